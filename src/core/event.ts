/**
 * The event model. A `PortraitEvent` is a Segment-spec message after
 * validation and normalisation: times are epoch milliseconds, the event time
 * is skew-corrected, and the message belongs to one workspace.
 */
import type { ControlRecord } from './control.ts';

export const EVENT_TYPES = ['track', 'identify', 'alias', 'group', 'page', 'screen'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface PortraitEvent {
  type: EventType;
  workspace: string;
  messageId: string;
  userId?: string;
  anonymousId?: string;
  /** alias: the identifier being linked to `userId`. */
  previousId?: string;
  /** group: the account the user belongs to. */
  groupId?: string;
  /** track: the event name, e.g. "Order Completed". */
  event?: string;
  /** page / screen: the page or screen name. */
  name?: string;
  properties?: JsonObject;
  traits?: JsonObject;
  context?: JsonObject;
  /** Event time (ms), corrected for client clock skew. */
  timestamp: number;
  /** The time the client stamped, before correction (ms). */
  originalTimestamp?: number;
  /** The time the client sent the batch (ms). */
  sentAt?: number;
  /** The time Portrait received the message (ms). */
  receivedAt: number;
}

/**
 * An operator action recorded in the log so that a rebuild replays it at the
 * same point: removing an identity link (unmerge).
 */
export interface UnlinkRecord {
  type: 'unlink';
  workspace: string;
  messageId: string;
  /** The two identifier keys whose link is removed, e.g. `user:42`, `anon:abc`. */
  a: string;
  b: string;
  /** On a partitioned log, the partition that owns the profile: the record goes there. */
  partition?: number;
  timestamp: number;
  receivedAt: number;
}

/**
 * An erasure, recorded in the log so that the engine (the only writer of
 * profile state) removes the person in order with everything else. It holds
 * no personal data: the profile id, keyed hashes of the identifiers (the
 * suppression list's), the erasure's ledger id and the requesting key id.
 */
export interface EraseRecord {
  type: 'erase';
  workspace: string;
  messageId: string;
  erasureId: string;
  profileId: string;
  /**
   * On a partitioned log, the partition that owns the profile (that of its
   * user or anonymous ids): the record goes there, and names no identifier.
   */
  partition?: number;
  /** Keyed hashes (HMAC-SHA256) of the profile's identifier keys. */
  hashes: string[];
  keyId: string | null;
  timestamp: number;
  receivedAt: number;
}

/**
 * A manual tag decision on a group (account) profile: set (`on`) or unset
 * `tag` on the group `groupId`. It names no person, so it is no member's
 * event (a member's erasure leaves it), and it is placed in the group's
 * home partition (src/log/partition.ts). The engine folds it into the group
 * profile as the group call `groupTagEvent` makes of it.
 */
export interface GroupTagRecord {
  type: 'group_tag';
  workspace: string;
  messageId: string;
  groupId: string;
  tag: string;
  on: boolean;
  /** The decision's event time. */
  timestamp: number;
  receivedAt: number;
}

export type LogRecord = PortraitEvent | UnlinkRecord | EraseRecord | GroupTagRecord | ControlRecord;

/** Whether a log record is an event (not an operator action such as an unlink, an erasure or a group's tag decision, nor a control record). */
export function isEvent(r: LogRecord): r is PortraitEvent {
  return r.type !== 'unlink' && r.type !== 'erase' && r.type !== 'control' && r.type !== 'group_tag';
}

/** The reserved context field that carries manual tag decisions (`{ "<tag>": true | false }`). */
export const MANUAL_TAGS_FIELD = 'portraitTags';

/**
 * The message a group's tag decision folds as: a group call naming no
 * person, carrying the decision in `context.portraitTags` as a person's
 * does. Ingest accepts no message without a user or anonymous id, so only
 * a `group_tag` record ever makes one (`isGroupTagEvent`).
 */
export function groupTagEvent(r: GroupTagRecord): PortraitEvent {
  return { type: 'group', workspace: r.workspace, messageId: r.messageId, groupId: r.groupId, context: { [MANUAL_TAGS_FIELD]: { [r.tag]: r.on } }, timestamp: r.timestamp, receivedAt: r.receivedAt };
}

/** Whether an event is a group's manual tag decision (`groupTagEvent`): a group call naming no person. */
export function isGroupTagEvent(e: PortraitEvent): boolean {
  return e.type === 'group' && e.userId === undefined && e.anonymousId === undefined;
}

/** A record as one of a group's events: an event, or a group's tag decision as `groupTagEvent` makes it; undefined for other records. */
export function asGroupEvent(r: LogRecord): PortraitEvent | undefined {
  return r.type === 'group_tag' ? groupTagEvent(r) : isEvent(r) ? r : undefined;
}

/**
 * The groups (accounts) an event counts for: a group call's `groupId`, and for
 * any message the account it is attributed to, `context.groupId` (Segment's
 * field for attributing non-group calls to an account) and the values of
 * `context.groups` (one id per group type, what PostHog's `$groups` become).
 * Numbers count as their decimal strings; other values are ignored. Sorted,
 * without repeats.
 */
export function groupIdsOf(e: PortraitEvent): string[] {
  const out: string[] = [];
  if (e.type === 'group' && e.groupId !== undefined) out.push(e.groupId);
  const c = e.context;
  if (c !== undefined) {
    const one = groupIdText(c.groupId);
    if (one !== undefined) out.push(one);
    const many = c.groups;
    if (many !== null && typeof many === 'object' && !Array.isArray(many)) {
      for (const k in many) {
        if (!Object.hasOwn(many, k)) continue;
        const id = groupIdText(many[k]);
        if (id !== undefined) out.push(id);
      }
    }
  }
  if (out.length < 2) return out;
  return [...new Set(out)].sort();
}

function groupIdText(v: Json | undefined): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
}

/** A record as read back from the log, with its position. */
export interface Positioned<T = LogRecord> {
  position: number;
  record: T;
  /**
   * Partitioned workers: this event was forwarded by another partition (a
   * `forward` control record, at `position`, read as the event it names).
   */
  forwarded?: { control: ControlRecord; group: boolean };
}

/**
 * Per key, the later of two decisions stamped with event time `t` and messageId
 * `id` (neither argument is changed): how scores and manual tags merge.
 */
export function mergeLatest<R extends { t: number; id: string }>(a: Record<string, R> | undefined, b: Record<string, R> | undefined): Record<string, R> | undefined {
  if (a === undefined) return b === undefined ? undefined : structuredClone(b);
  if (b === undefined) return structuredClone(a);
  const out: Record<string, R> = {};
  for (const name of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const x = a[name];
    const y = b[name];
    out[name] = { ...(x === undefined ? y! : y === undefined ? x : compareEventOrder(x.t, x.id, y.t, y.id) >= 0 ? x : y) };
  }
  return out;
}

/** Orders events by event time, then messageId: a total order independent of arrival. */
export function compareEventOrder(aTime: number, aId: string, bTime: number, bId: string): number {
  if (aTime !== bTime) return aTime < bTime ? -1 : 1;
  return aId < bId ? -1 : aId > bId ? 1 : 0;
}
