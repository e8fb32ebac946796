import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { orderedTime, profileIdFor } from './profile-id.ts';

const bytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('profile ids', () => {
  it('are the same for the same workspace, identifier, position and time (a rebuild names profiles alike)', () => {
    const t = Date.parse('2026-11-28T10:00:00Z');
    assert.equal(profileIdFor('p', 'w', 'user:42', 7, t), profileIdFor('p', 'w', 'user:42', 7, t));
    assert.match(profileIdFor('p', 'w', 'user:42', 7, t), /^p_[-0-9A-Za-z_]{20}$/);
    assert.match(profileIdFor('g', 'w', 'group:acme', 0), /^g_[-0-9A-Za-z_]{20}$/);
  });

  it('differ between identifiers, positions and workspaces made in the same millisecond', () => {
    const t = 1_795_900_000_000;
    const ids = new Set([
      profileIdFor('p', 'w', 'user:1', 1, t),
      profileIdFor('p', 'w', 'user:2', 1, t),
      profileIdFor('p', 'w', 'user:1', 2, t),
      profileIdFor('p', 'v', 'user:1', 1, t),
    ]);
    assert.equal(ids.size, 4);
  });

  it('sort in byte order by the time they were made, whatever the rest', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.string(), fc.string(), fc.nat(), fc.nat(), (t1, t2, i1, i2, p1, p2) => {
        fc.pre(t1 !== t2);
        const a = profileIdFor('p', 'w', i1, p1, t1);
        const b = profileIdFor('p', 'w', i2, p2, t2);
        assert.equal(Math.sign(bytes(a, b)), Math.sign(t1 - t2));
      }),
    );
  });

  it('encode times in seven symbols, clamping those outside 0 … 64^7 - 1 ms', () => {
    assert.equal(orderedTime(0), '-------');
    assert.equal(orderedTime(-5), '-------');
    assert.equal(orderedTime(64 ** 7 - 1), 'zzzzzzz');
    assert.equal(orderedTime(64 ** 7 + 1000), 'zzzzzzz');
    assert.equal(orderedTime(1), '------0');
    assert.equal(orderedTime(64), '-----0-');
    assert.ok(bytes(orderedTime(Date.parse('2109-01-01')), orderedTime(Date.parse('2026-01-01'))) > 0);
  });
});
