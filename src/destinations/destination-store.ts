/**
 * What the destinations part needs from a database: definitions, the
 * per-destination outbox cursor, deliveries, dead letters and segment members
 * for export. Implemented on SQLite (sqlite-destination-store.ts) and on
 * PostgreSQL (postgres-destination-store.ts); both pass one contract suite
 * (destination-store-contract.ts). Rows and the planning of deliveries from
 * outbox rows are shared here so both adapters mean the same thing.
 */
import { tagCovers } from '../segments/index.ts';
import type { Destination, Kind } from './destination.ts';

export interface OutboxRow {
  seq: number;
  workspace: string;
  kind: string;
  profileId: string;
  /** JSON text: `{segment?, time, reason?, ...}`. */
  payload: string;
  position: number;
  createdAt: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface Delivery {
  seq: number;
  /** `<destination>:<outbox seq>`: stable across retries and restarts, sent as the idempotency id. */
  id: string;
  destination: string;
  workspace: string;
  outboxSeq: number;
  kind: Kind;
  profileId: string;
  body: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number | null;
  lastError: string | null;
  responseCode: number | null;
  createdAt: number;
  deliveredAt: number | null;
}

export interface DeadLetter {
  seq: number;
  deliveryId: string;
  destination: string;
  workspace: string;
  failedAt: number;
  attempts: number;
  lastError: string | null;
  responseCode: number | null;
  replayedAt: number | null;
}

/** A claimed delivery with what the sender needs of its destination. */
export interface DueDelivery extends Delivery {
  url: string;
  secret: string;
  /** The end of this claim's lease; an outcome is recorded only while the claim is still this one. */
  leaseUntil: number;
}

/** A segment member as export reads it: the stored profile document (JSON text, personal values sealed) when present. */
export interface MemberRow {
  profileId: string;
  since: number;
  doc: string | null;
}

/** What a destination has yet to deliver, and what it gave up on. */
export interface DestinationHealth {
  destination: string;
  workspace: string;
  enabled: boolean;
  /** Deliveries waiting for an attempt (first or retry). */
  pending: number;
  /** When the oldest pending delivery was created (epoch ms), if any. */
  oldestPendingAt: number | null;
  /** Dead letters not replayed. */
  dead: number;
  /** Outbox rows of its workspace past its cursor: not yet turned into deliveries (or skipped by its filters). */
  undispatched: number;
}

export interface DestinationStore {
  destination(id: string): Promise<Destination | undefined>;
  /** Every destination (of one workspace when named), ordered by workspace and id. */
  destinations(workspace?: string): Promise<Destination[]>;
  /**
   * Inserts a destination; it receives the notifications written after this
   * moment. False (and nothing changed) when the id exists already.
   */
  insert(d: Destination): Promise<boolean>;
  update(d: Destination): Promise<void>;
  /** Removes a destination with its cursor, deliveries and dead letters. */
  remove(id: string): Promise<void>;
  /** The last outbox seq the destination has turned into deliveries. */
  cursor(id: string): Promise<number>;

  /**
   * Turns the next `limit` outbox rows of the destination's workspace into
   * deliveries (those it subscribes to) and moves its cursor past them, in
   * one transaction; at most one process does so for one destination at a
   * time. `beforeCommit` lets tests fail in between.
   */
  dispatch(d: Destination, limit: number, now: number, beforeCommit?: () => void): Promise<{ scanned: number; created: number }>;
  /**
   * Claims up to `limit` pending deliveries due at `now` (of enabled
   * destinations) by pushing their next attempt `leaseMs` ahead: other
   * senders skip them, and a crash mid-send retries them after the lease.
   */
  claimDue(now: number, limit: number, leaseMs: number): Promise<DueDelivery[]>;
  /** Records a success of a claimed delivery (ignored when its claim was lost). */
  delivered(dl: DueDelivery, responseCode: number, now: number): Promise<void>;
  /** Records a failed attempt: retried at `retryAt`, or, when null, moved to the dead letters. */
  failed(dl: DueDelivery, responseCode: number | null, error: string, now: number, retryAt: number | null): Promise<void>;
  /** The earliest next attempt among pending deliveries of enabled destinations. */
  nextDueAt(): Promise<number | undefined>;
  /** Per destination, what waits and what failed (for /metrics), ordered by workspace and id. */
  health(): Promise<DestinationHealth[]>;

  /** A destination's deliveries in creation order after `after` (a seq), optionally of one status. */
  deliveries(destination: string, o: { status?: DeliveryStatus; after?: number; limit: number }): Promise<Delivery[]>;
  /** Dead letters in order after `after`: the open ones, or with `replayed` those already replayed. */
  deadLetters(destination: string, o: { replayed?: boolean; after?: number; limit: number }): Promise<DeadLetter[]>;
  /** Re-queues open dead letters (one, or all of the destination's) with a fresh attempt budget; returns their delivery ids. */
  replay(destination: string, deliveryId: string | undefined, now: number): Promise<string[]>;

  /** Appends notifications to the outbox in one transaction; returns their seqs (the engine writes them in its commit; this is for tests and tools). */
  appendOutbox(rows: ReadonlyArray<Omit<OutboxRow, 'seq'>>): Promise<number[]>;
  /** Adds segment members in one transaction (for tests and tools, as above). */
  addMembers(rows: ReadonlyArray<{ workspace: string; segment: string; profileId: string; since: number }>): Promise<void>;
  /** One page of a segment's members after `after` (profile id order), with their profile documents when present. */
  membersPage(workspace: string, segment: string, after: string, limit: number): Promise<MemberRow[]>;
  /** Releases what the store holds of its own (a thread); the database it uses stays open. */
  close?(): Promise<void>;
}

/** A delivery to create: its id and the JSON body every attempt sends. */
export interface PlannedDelivery {
  id: string;
  outboxSeq: number;
  kind: Kind;
  profileId: string;
  body: string;
}

/**
 * The deliveries a destination gets from outbox rows: its kinds, its consent
 * purpose, its segments (a profile update passes a segment filter when the
 * profile is a member of one of them: `isMember`; tag events pass it), its
 * tags (tag events of a listed tag or one below it).
 */
export function planDeliveries(d: Destination, rows: readonly OutboxRow[], isMember: (profileId: string) => boolean): PlannedDelivery[] {
  const segments = d.segments === null ? null : new Set(d.segments);
  const tags = d.tags;
  const out: PlannedDelivery[] = [];
  for (const o of rows) {
    if (!(d.kinds as string[]).includes(o.kind)) continue;
    const { consented, ...payload } = parsePayload(o.payload);
    // A purpose-bound destination hears only about profiles that had granted its purpose when the notification was written.
    if (d.purpose !== undefined && !(Array.isArray(consented) && consented.includes(d.purpose))) continue;
    if (o.kind.startsWith('tag.')) {
      // The tag filter narrows tag events only: a listed tag takes its own events and those of the tags below it.
      if (tags !== null && !(typeof payload.tag === 'string' && tags.some((t) => tagCovers(t, payload.tag as string)))) continue;
    } else if (segments !== null) {
      // The segment filter narrows segment events and profile updates; tag events pass it.
      if (o.kind === 'profile.updated') {
        if (!isMember(o.profileId)) continue;
      } else if (typeof payload.segment !== 'string' || !segments.has(payload.segment)) continue;
    }
    const id = `${d.id}:${o.seq}`;
    const body = JSON.stringify({ id, type: o.kind, workspace: o.workspace, profileId: o.profileId, createdAt: new Date(o.createdAt).toISOString(), data: payload });
    out.push({ id, outboxSeq: o.seq, kind: o.kind as Kind, profileId: o.profileId, body });
  }
  return out;
}

/** The profiles of profile-update rows whose membership a segment-filtered destination must check. */
export function membershipQuestions(d: Destination, rows: readonly OutboxRow[]): string[] {
  if (d.segments === null || !d.kinds.includes('profile.updated')) return [];
  return [...new Set(rows.filter((r) => r.kind === 'profile.updated').map((r) => r.profileId))];
}

function parsePayload(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    // The engine writes JSON; anything else is forwarded as text rather than dropped.
    return { raw: text };
  }
}

type Row = Record<string, unknown>;

export function toOutbox(r: Row): OutboxRow {
  return {
    seq: r.seq as number,
    workspace: r.workspace as string,
    kind: r.kind as string,
    profileId: r.profile_id as string,
    payload: r.payload as string,
    position: r.position as number,
    createdAt: r.created_at as number,
  };
}

/** A name list as stored: JSON text, or null for none (no filter). */
export function jsonOrNull(list: readonly string[] | null): string | null {
  return list === null ? null : JSON.stringify(list);
}

/** A destination row; `kinds`, `segments` and `tags` are JSON text, `enabled` 0/1 (SQLite) or a boolean (PostgreSQL). */
export function toDestination(r: Row): Destination {
  return {
    id: r.id as string,
    workspace: r.workspace as string,
    url: r.url as string,
    secret: r.secret as string,
    kinds: JSON.parse(r.kinds as string) as Kind[],
    segments: r.segments === null ? null : (JSON.parse(r.segments as string) as string[]),
    tags: typeof r.tags === 'string' ? (JSON.parse(r.tags) as string[]) : null,
    enabled: r.enabled === 1 || r.enabled === true,
    ...(typeof r.purpose === 'string' ? { purpose: r.purpose } : {}),
    source: r.source as Destination['source'],
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

export function toDelivery(r: Row): Delivery {
  return {
    seq: r.seq as number,
    id: r.id as string,
    destination: r.destination as string,
    workspace: r.workspace as string,
    outboxSeq: r.outbox_seq as number,
    kind: r.kind as Kind,
    profileId: r.profile_id as string,
    body: r.body as string,
    status: r.status as DeliveryStatus,
    attempts: r.attempts as number,
    nextAttemptAt: (r.next_attempt_at as number | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
    responseCode: (r.response_code as number | null) ?? null,
    createdAt: r.created_at as number,
    deliveredAt: (r.delivered_at as number | null) ?? null,
  };
}

/** A claimed delivery row joined with its destination's url and secret. */
export function toDue(r: Row): DueDelivery {
  return { ...toDelivery(r), url: r.url as string, secret: r.secret as string, leaseUntil: r.next_attempt_at as number };
}

export function toDeadLetter(r: Row): DeadLetter {
  return {
    seq: r.seq as number,
    deliveryId: r.delivery_id as string,
    destination: r.destination as string,
    workspace: r.workspace as string,
    failedAt: r.failed_at as number,
    attempts: r.attempts as number,
    lastError: (r.last_error as string | null) ?? null,
    responseCode: (r.response_code as number | null) ?? null,
    replayedAt: (r.replayed_at as number | null) ?? null,
  };
}

/** DestinationHealth rows, one per destination, in the same SQL on SQLite and PostgreSQL (read with toHealth). */
export const HEALTH_SQL = `SELECT t.id, t.workspace, t.enabled,
  (SELECT COUNT(*) FROM deliveries d WHERE d.destination = t.id AND d.status = 'pending') AS pending,
  (SELECT MIN(d.created_at) FROM deliveries d WHERE d.destination = t.id AND d.status = 'pending') AS oldest,
  (SELECT COUNT(*) FROM dead_letters l WHERE l.destination = t.id AND l.replayed_at IS NULL) AS dead,
  (SELECT COUNT(*) FROM outbox o WHERE o.workspace = t.workspace AND o.seq > COALESCE((SELECT c.seq FROM destination_cursors c WHERE c.destination = t.id), 0)) AS undispatched
FROM destinations t ORDER BY t.workspace, t.id`;

export function toHealth(r: Row): DestinationHealth {
  // Counts and BIGINT columns may come back as strings (PostgreSQL); enabled as 0/1 (SQLite).
  return {
    destination: r.id as string,
    workspace: r.workspace as string,
    enabled: r.enabled === true || r.enabled === 1,
    pending: Number(r.pending),
    oldestPendingAt: r.oldest === null || r.oldest === undefined ? null : Number(r.oldest),
    dead: Number(r.dead),
    undispatched: Number(r.undispatched),
  };
}
