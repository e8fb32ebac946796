/**
 * The event log: the source of truth. Append-only, positions increase
 * monotonically per partition (embedded mode has one partition), and an
 * append resolves only once it is durable. Deduplication by
 * (workspace, messageId) happens inside the append, atomically with it.
 */
import type { LogRecord, PortraitEvent, Positioned } from '../core/event.ts';

const isObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Records a retention purge never deletes, whatever their age: unmerge,
 * erase and group tag records, and the events carrying a decision a rebuild
 * must repeat and a controller may have to show: a consent decision
 * (`context.consent`, an identify's `traits.consent`) or a manual tag
 * decision (`context.portraitTags`). SQLITE_KEPT_BY_RETENTION says the same in SQL.
 */
export function keptByRetention(r: LogRecord): boolean {
  if (r.type === 'unlink' || r.type === 'erase' || r.type === 'group_tag') return true;
  const e = r as PortraitEvent;
  return isObject(e.context?.consent) || isObject(e.context?.portraitTags) || (e.type === 'identify' && isObject(e.traits?.consent));
}

/** keptByRetention over the SQLite log's columns (`type`, `body`). */
export const SQLITE_KEPT_BY_RETENTION = `(type IN ('unlink', 'erase', 'group_tag')
  OR json_type(body, '$.context.consent') IS 'object' OR json_type(body, '$.context.portraitTags') IS 'object'
  OR (type = 'identify' AND json_type(body, '$.traits.consent') IS 'object'))`;

export type AppendOutcome = 'appended' | 'duplicate';

/** The ids whose events an erasure deletes: the rule `eventsFor` attributes events by. */
export interface EraseSelector {
  userIds: string[];
  anonymousIds: string[];
  /** Identifier keys (`user:42`, `anon:abc`): unlink records naming any of them are deleted too. */
  identKeys: string[];
}

/**
 * Which events a retention purge deletes: event time before `before` (ms),
 * optionally only up to a position (what the engine has already folded), one
 * workspace, type and event name. What `keptByRetention` names is never purged.
 */
export interface PurgeFilter {
  before: number;
  upTo?: number;
  workspace?: string;
  type?: string;
  event?: string;
}

export interface EventLog {
  /** Appends records durably; duplicates (same workspace and messageId within the window) are acknowledged and not stored. */
  append(records: readonly LogRecord[]): Promise<AppendOutcome[]>;
  /** Records with position > `after`, in position order, at most `limit`. */
  read(after: number, limit: number): Promise<Positioned[]>;
  /** The position of the last appended record (0 when empty). */
  head(): number;
  /** Events attributed to any of these ids (user ids first, then anonymous ids of events without a user id), in position order. */
  eventsFor(workspace: string, ids: { userIds: string[]; anonymousIds: string[] }, opts?: { upTo?: number }): Promise<Positioned<PortraitEvent>[]>;
  /** Calls `listener` after each durable append. Returns an unsubscribe function. */
  onAppend(listener: () => void): () => void;
  /**
   * At positions ≤ `upTo`: deletes the events attributed to these ids (and
   * unlink records naming them), and removes these ids from other people's
   * events that name them (an anonymous id beside another user id, an
   * alias's previous id). Positions are never reused. A log that cannot
   * delete throws PORTRAIT_NOT_ON_THIS_BACKEND.
   */
  erase(workspace: string, sel: EraseSelector, upTo: number): Promise<{ deleted: number; redacted: number }>;
  /**
   * The events that count for a group (its group calls and the messages attributed to it: `groupIdsOf`),
   * and its manual tag decisions (`group_tag` records, as `groupTagEvent` makes them), in position order
   * (a group profile's events; recomputing it after an erasure).
   */
  groupEvents(workspace: string, groupId: string, opts: { upTo: number }): Promise<Positioned<PortraitEvent>[]>;
  /** Forgets deduplication keys received before `before` (ms); returns how many. */
  expireDedup(before: number): Promise<number>;
  /**
   * Deletes the events matching the filter (retention); with `dryRun`, only
   * counts them. Returns the count per workspace. Positions are never reused.
   */
  purge(filter: PurgeFilter, opts?: { dryRun?: boolean }): Promise<Map<string, number>>;
  close(): Promise<void>;
}
