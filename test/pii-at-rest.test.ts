import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { tempDir, T0 } from './support/open.ts';

const EMAIL = 'ann.secret@example.com';
const PHONE = '+51 999 123 4567';
const OLD_EMAIL = 'ann.older@example.com';

/** Every text cell of the tables that hold profile state, in one string. */
function tableText(file: string): Record<string, string> {
  const db = new Database(file, { readonly: true });
  try {
    const out: Record<string, string> = {};
    for (const t of ['profiles', 'trait_history', 'attribute_conflicts']) out[t] = JSON.stringify(db.prepare(`SELECT * FROM ${t}`).all());
    return out;
  } finally {
    db.close();
  }
}

describe('personal data at rest', () => {
  it('email and phone are sealed in profile rows, history and conflicts while the library returns them', async () => {
    const { dir, cleanup } = tempDir();
    const clock = new ManualClock(T0);
    const p = await Portrait.open({ dataDir: dir, identity: { hashKey: 'ab'.repeat(32) } }, { clock });
    try {
      await p.ingest([
        { type: 'identify', userId: 'u1', traits: { email: EMAIL, phone: PHONE, city: 'Lima' }, timestamp: new Date(T0).toISOString() },
        // Older than the stored value: a stale attribute conflict on email.
        { type: 'identify', userId: 'u1', traits: { email: OLD_EMAIL }, timestamp: new Date(T0 - 86_400_000).toISOString() },
      ]);
      await p.drain();
      const profile = await p.profile('user_id', 'u1');
      assert.equal(profile?.attributes.email, EMAIL, 'the library returns the plaintext email');
      assert.equal(profile?.attributes.phone, PHONE, 'the library returns the plaintext phone');
      const history = await p.history('user_id', 'u1');
      assert.ok(
        history.some((h) => JSON.stringify(h.changes['attr.email']) === JSON.stringify([null, EMAIL]) || h.changes['attr.email']?.[1] === EMAIL),
        'history shows the plaintext email',
      );
      const conflicts = await p.attributeConflicts('user_id', 'u1');
      assert.ok(conflicts.some((c) => c.attribute === 'email' && c.kept === EMAIL && c.rejected === OLD_EMAIL), 'conflicts show plaintext values');

      const text = tableText(join(dir, 'state.db'));
      for (const [table, cells] of Object.entries(text)) {
        for (const secret of [EMAIL, PHONE, OLD_EMAIL, 'ann.secret', '999 123']) assert.ok(!cells.includes(secret), `${table} does not hold "${secret}" in plaintext`);
      }
      assert.ok(text.profiles!.includes('Lima'), 'a field not declared personal stays plaintext (the check reads the right table)');
      assert.ok(text.profiles!.includes('pe1.'), 'profile rows hold sealed tokens');
      assert.ok(text.trait_history!.includes('pe1.'), 'history rows hold sealed tokens');
      assert.ok(text.attribute_conflicts!.includes('pe1.'), 'conflict rows hold sealed tokens');

      // Search on a sealed attribute is filtered in memory: it still finds the profile.
      const found = await p.searchProfiles({ where: [{ field: 'attributes.email', op: 'eq', value: EMAIL }] });
      assert.equal(found.total, 1, 'search by a sealed attribute finds the profile');
    } finally {
      await p.close();
      cleanup();
    }
  });

  it('a reopened instance (same key file) reads what the previous one sealed; rebuild equals incremental', async () => {
    const { dir, cleanup } = tempDir();
    const clock = new ManualClock(T0);
    const config = { dataDir: dir, identity: { hashKey: 'ab'.repeat(32) } };
    let p = await Portrait.open(config, { clock });
    try {
      await p.ingest([{ type: 'identify', userId: 'u2', traits: { email: EMAIL, name: 'Ann' } }]);
      await p.drain();
      await p.close();
      p = await Portrait.open(config, { clock });
      assert.equal((await p.profile('user_id', 'u2'))?.attributes.name, 'Ann', 'the reopened instance opens sealed values');
      const before = await p.stateDump();
      await p.rebuild();
      assert.deepEqual(await p.stateDump(), before, 'the dump compares plaintext, so a rebuild equals the incremental state');
    } finally {
      await p.close();
      cleanup();
    }
  });
});
