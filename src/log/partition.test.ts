import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { PortraitEvent } from '../core/event.ts';
import { homeOf } from '../cluster/home.ts';
import { partitionKey, partitionOf, partitionOfRecord } from './partition.ts';

const ev = (over: Partial<PortraitEvent>): PortraitEvent => ({ type: 'track', workspace: 'w', messageId: 'm', event: 'x', timestamp: 1, receivedAt: 1, ...over });

describe('partitions', () => {
  it('keys an event by userId, else anonymousId; an unlink by its first identifier', () => {
    assert.equal(partitionKey(ev({ userId: 'u1', anonymousId: 'a1' })), 'u1', 'userId first');
    assert.equal(partitionKey(ev({ anonymousId: 'a1' })), 'a1', 'anonymousId without a userId');
    assert.equal(partitionKey({ type: 'unlink', workspace: 'w', messageId: 'm', a: 'user:42', b: 'anon:x', timestamp: 1, receivedAt: 1 }), '42', 'the value of a');
    assert.equal(
      partitionOfRecord({ type: 'unlink', workspace: 'w', messageId: 'm', a: 'user:42', b: 'anon:x', timestamp: 1, receivedAt: 1 }, 16),
      partitionOfRecord(ev({ userId: '42' }), 16),
      "an unlink of user 42 lands with user 42's events",
    );
  });

  it("places an erase record in the partition it names (the profile's), which holds no identifier", () => {
    const erase = { type: 'erase' as const, workspace: 'w', messageId: 'e1', erasureId: 'er_1', profileId: 'p_abc', hashes: [], keyId: null, timestamp: 0, receivedAt: 0 };
    const home = partitionOf('w', 'user-42', 8);
    assert.equal(partitionOfRecord({ ...erase, partition: home }, 8), home, "the erase goes where the person's events go");
    assert.equal(partitionOfRecord({ type: 'track', workspace: 'w', messageId: 'm', userId: 'user-42', timestamp: 0, receivedAt: 0 } as PortraitEvent, 8), home, 'as their events do');
    assert.equal(partitionOfRecord(erase, 8), partitionOf('w', 'p_abc', 8), 'without a partition: by profile id');
    assert.equal(partitionOfRecord({ ...erase, partition: 9 }, 8), partitionOf('w', 'p_abc', 8), 'a partition beyond the count is ignored');
  });

  it("places a group's manual tag record in the group's home partition, where the group's profile is written", () => {
    const tag = { type: 'group_tag' as const, workspace: 'w', messageId: 't1', groupId: 'acme', tag: 'tier/gold', on: true, timestamp: 0, receivedAt: 0 };
    assert.equal(partitionKey(tag), 'acme', 'keyed by its group id');
    assert.equal(partitionOfRecord(tag, 8), homeOf(8)('w', 'group:acme'), "the group's home");
  });

  it('is stable: known values do not change between versions', () => {
    // Changing the hash would move every profile to another partition: these pin it.
    assert.deepEqual([partitionOf('w', 'u1', 16), partitionOf('w', 'u2', 16), partitionOf('default', '用户', 7)], [7, 0, 3], 'pinned values');
    assert.equal(partitionOf('w', 'anything', 1), 0, 'one partition holds everything');
  });

  it('always lands in [0, partitions) and depends on the workspace too', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.integer({ min: 1, max: 1024 }), (ws, key, n) => {
        const p = partitionOf(ws, key, n);
        return Number.isInteger(p) && p >= 0 && p < n && p === partitionOf(ws, key, n);
      }),
    );
    const differs = Array.from({ length: 50 }, (_, i) => `u${i}`).some((k) => partitionOf('a', k, 64) !== partitionOf('b', k, 64));
    assert.ok(differs, 'the same key in two workspaces may land in different partitions');
  });

  it('spreads keys evenly enough', () => {
    const counts = new Array(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[partitionOf('w', `user-${i}`, 8)]++;
    for (const c of counts) assert.ok(c > 800 && c < 1200, `each of 8 partitions gets about 1000 of 8000 keys (got ${counts.join(', ')})`);
  });

  it('places two keys that differ only in their letters independently, even with a power-of-two count', () => {
    // Unmixed FNV-1a failed this: its low bits see only the low bits of each byte.
    let same = 0;
    for (let i = 0; i < 400; i++) if (partitionOf('default', `user${i}`, 4) === partitionOf('default', `anon${i}`, 4)) same++;
    assert.ok(same > 60 && same < 140, `about a quarter of user/anonymous id pairs share a partition of 4 (got ${same} of 400)`);
  });

  it('refuses a partition count that is not a positive integer', () => {
    assert.throws(() => partitionOf('w', 'k', 0), RangeError, 'zero partitions');
    assert.throws(() => partitionOf('w', 'k', 1.5), RangeError, 'fractional');
  });
});
