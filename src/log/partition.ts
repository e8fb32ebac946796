/**
 * Which partition a log record belongs to. A record is placed by a hash of
 * its workspace and profile key, so that one user's events stay in one
 * partition and in order:
 * - an event: its `userId`, or its `anonymousId` when it carries no user id;
 * - an unlink: the value of its first identifier (`a`), e.g. `42` of `user:42`
 *   (on a partitioned log, the partition that owns the profile, when it names one);
 * - an erasure: its profile id;
 * - a group's tag decision: its group id, so it sits in the group's home
 *   partition (src/cluster/home.ts hashes `group:<id>` by the same value).
 * Events of one person sent before and after identify can therefore sit in
 * two partitions (anonymous id, then user id); the worker layer reconciles
 * such merges (see README, "Scale-out").
 */
import type { LogRecord } from '../core/event.ts';
import { identValue } from '../core/identity.ts';

/** The key a record is partitioned by. */
export function partitionKey(r: LogRecord): string {
  if (r.type === 'unlink') return identValue(r.a);
  if (r.type === 'erase') return r.profileId;
  if (r.type === 'control') return r.messageId;
  if (r.type === 'group_tag') return r.groupId;
  return r.userId ?? r.anonymousId ?? r.messageId;
}

/**
 * FNV-1a (32 bit) of the UTF-8 bytes of `workspace \0 key`, mixed by
 * MurmurHash3's 32-bit finaliser, modulo `partitions`. Stable across
 * processes and versions. The finaliser matters: FNV-1a's low bits depend
 * only on the low bits of each byte, so with a power-of-two partition count
 * `user7` and `anon7` would always land the same way relative to each other.
 */
export function partitionOf(workspace: string, key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  let h = 0x811c9dc5;
  const bytes = Buffer.from(`${workspace}\u0000${key}`, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) % partitions;
}

export function partitionOfRecord(r: LogRecord, partitions: number): number {
  if (r.type === 'control') return r.to;
  // An erase record carries the partition of the profile it erases (computed with the same count by every node).
  if ((r.type === 'erase' || r.type === 'unlink') && r.partition !== undefined && r.partition < partitions) return r.partition;
  return partitionOf(r.workspace, partitionKey(r), partitions);
}
