import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { emailHasher } from '../engine/options.ts';
import { rawIdentKeys, SuppressionList } from './suppression.ts';

const KEY = Buffer.alloc(32, 7);

describe('suppression list', () => {
  it('hashes with a per-workspace key: the same identifier hashes differently per workspace and per instance key', () => {
    const s = new SuppressionList(KEY);
    const h = s.hash('w1', 'user:42');
    assert.match(h, /^[0-9a-f]{64}$/, 'an HMAC-SHA256 in hex');
    assert.ok(!h.includes('42'), 'the hash does not show the identifier');
    assert.notEqual(s.hash('w2', 'user:42'), h, 'another workspace gets another hash');
    assert.notEqual(new SuppressionList(Buffer.alloc(32, 8)).hash('w1', 'user:42'), h, 'another instance key gets another hash');
    assert.equal(new SuppressionList(KEY).hash('w1', 'user:42'), h, 'stable for the same key');
  });

  it('suppresses exactly the identifiers added, in their workspace only', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 20 }), (ids) => {
        const s = new SuppressionList(KEY);
        const [gone, ...kept] = ids;
        assert.equal(s.any('w'), false, 'empty at first');
        s.add('w', [s.hash('w', `user:${gone}`)]);
        assert.equal(s.suppressed('w', [`user:${gone}`]), true, 'the added identifier is suppressed');
        assert.equal(s.suppressed('other', [`user:${gone}`]), false, 'not in another workspace');
        for (const k of kept) assert.equal(s.suppressed('w', [`user:${k}`, `anon:${gone}`]), false, `${k} is not suppressed`);
      }),
    );
  });

  it('reads identifiers leniently from raw (possibly invalid) messages', () => {
    const hashEmail = emailHasher(KEY);
    const keys = rawIdentKeys(
      { userId: 42, anonymous_id: 'a1', previousId: 'p', traits: { email: 'X@Example.com ' }, context: { externalIds: [{ type: 'CRM', id: 'c9' }, 'junk'] } },
      hashEmail,
      'w',
    );
    assert.deepEqual(
      keys,
      ['user:42', 'anon:a1', 'user:p', 'anon:p', `email:${hashEmail('w', 'x@example.com')}`, 'ext:crm:c9'],
      'numbers, snake_case names, alias ids, normalised email and external ids are all read',
    );
    for (const raw of [null, 'text', [1, 2], 5, {}]) assert.deepEqual(rawIdentKeys(raw, hashEmail, 'w'), [], `nothing from ${JSON.stringify(raw)}`);
  });

  it('follows the stored list: reads the rows again only when their count changed, keeping what it held', async () => {
    const s = new SuppressionList(KEY);
    const rows = [{ workspace: 'w', hash: s.hash('w', 'user:1') }];
    let reads = 0;
    const stored = {
      suppressionCount: async () => rows.length,
      suppressions: async () => {
        reads++;
        return [...rows];
      },
    };
    await s.follow(stored);
    assert.equal(s.suppressed('w', ['user:1']), true);
    await s.follow(stored);
    assert.equal(reads, 1, 'the same count: the rows are not read again');
    rows.push({ workspace: 'w', hash: s.hash('w', 'anon:2') });
    await s.follow(stored);
    assert.equal(reads, 2);
    assert.equal(s.suppressed('w', ['anon:2']), true, 'a row another node (or a worker) added');
    assert.equal(s.suppressed('w', ['user:1']), true, 'and the earlier ones stay');
  });
});
