import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { EraseRecord, Positioned } from '../core/event.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import type { EventLog } from '../log/index.ts';
import type { ProfileRules } from '../profile/index.ts';
import type { MergeRecord } from '../core/identity.ts';
import type { ErasurePlan, StateStore } from '../storage/index.ts';
import { scoped } from '../storage/index.ts';
import { emailHasher } from '../engine/options.ts';
import { applyErasure } from './erasure.ts';

/**
 * A person's profile `p_person` was handed down by partition 1 and merged
 * into `p_other` by partition 0, which owns it now; the erase record, made
 * while the person still lived in partition 1, names `p_person`.
 */
function handedDown() {
  const other: ProfileDoc = { ...emptyProfile('p_other', 'w', 'user', 0), identifiers: ['anon:a', 'user:u'] };
  const merge: MergeRecord = { kind: 'merge', workspace: 'w', from: 'p_person', into: 'p_other', a: 'user:u', b: 'anon:a', position: 6, messageId: 'link', time: 0 };
  const plans: ErasurePlan[] = [];
  const erasedFromLog: unknown[] = [];
  // Only what applyErasure reads of a store and a log: the rest of either interface is never called here.
  const store = {
    profiles: async (keys: Array<{ workspace: string; id: string }>) => new Map(keys.filter((k) => k.id === other.id).map((k) => [scoped(k.workspace, k.id), other])),
    merges: async (_ws: string, id: string) => (id === merge.from ? [merge] : []),
    ownerOf: async (_ws: string, id: string) => (id === other.id ? 0 : undefined),
    privacy: {
      erase: async (plan: ErasurePlan) => {
        plans.push(plan);
        return { profileIds: [plan.profileId], counts: {} };
      },
    },
  } as unknown as StateStore;
  const log = {
    eventsFor: async () => [],
    erase: async (...args: unknown[]) => {
      erasedFromLog.push(args);
      return { deleted: 0, redacted: 0 };
    },
  } as unknown as EventLog;
  const record: Positioned<EraseRecord> = {
    position: 5,
    record: { type: 'erase', workspace: 'w', messageId: 'erase-er_1', erasureId: 'er_1', profileId: 'p_person', partition: 1, hashes: ['h'], keyId: null, timestamp: 0, receivedAt: 0 },
  };
  const erase = (partition: number, partitioned: boolean) =>
    applyErasure(record, {
      log,
      store,
      hashEmail: emailHasher(Buffer.alloc(32, 1)),
      partition,
      now: 0,
      // Read only to recompute the groups the person fed, and this person fed none.
      rules: { traits: [] } as unknown as ProfileRules,
      covers: () => true,
      ...(partitioned && { forget: () => [] }),
    });
  return { erase, plans, erasedFromLog };
}

describe('applyErasure: the profile an erase record erases', () => {
  it('on partitioned workers, a profile another partition owns now is not erased by the partition the record went to, even once that partition merged it', async () => {
    const { erase, plans, erasedFromLog } = handedDown();
    const done = await erase(1, true);
    assert.equal(plans[0]!.profileId, 'p_person', 'the record\'s own profile id: the other partition forgets what absorbed it');
    assert.deepEqual(plans[0]!.identKeys, [], 'none of the other partition\'s identifiers');
    assert.deepEqual(erasedFromLog, [], 'no event erased from here on the other partition\'s behalf');
    assert.deepEqual(done.identKeys, []);
  });

  it('the owner itself follows the merge to the live profile', async () => {
    const { erase, plans } = handedDown();
    await erase(0, true);
    assert.equal(plans[0]!.profileId, 'p_other');
    assert.deepEqual(plans[0]!.identKeys, ['anon:a', 'user:u']);
  });

  it('one partition (embedded): the merge is followed, as there is no other owner', async () => {
    const { erase, plans, erasedFromLog } = handedDown();
    await erase(1, false);
    assert.equal(plans[0]!.profileId, 'p_other');
    assert.deepEqual(plans[0]!.identKeys, ['anon:a', 'user:u']);
    assert.equal(erasedFromLog.length, 1, 'the person\'s events are erased');
  });
});
