/**
 * Segment and tag storage on SQLite: definitions, current memberships (paged
 * by profile id), membership history, sizes over time, the time-driven
 * re-evaluation schedule, manual tags and the transactional outbox. The
 * engine's part is written inside the state store's commit transaction.
 */
import type Database from 'better-sqlite3';
import type { ProfileDoc } from '../../core/profile.ts';
import type { Changeset, MembershipChange, OutboxEntry, SegmentDefinitionRow, SegmentStore } from '../store.ts';
import { scoped } from '../store.ts';
import { toMembershipChange, toOutboxEntry, toSegmentDefinition } from '../rows.ts';
import { openDoc, type ValueSealer } from '../sealer.ts';
import { idsByWorkspace } from './by-workspace.ts';

export const SQLITE_SEGMENT_SCHEMA = `
CREATE TABLE IF NOT EXISTS segment_definitions (
  kind           TEXT NOT NULL,
  name           TEXT NOT NULL,
  definition     TEXT NOT NULL,
  hash           TEXT NOT NULL,
  version        INTEGER NOT NULL,
  status         TEXT NOT NULL,
  cursor         INTEGER NOT NULL,
  after_position INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  source         TEXT NOT NULL DEFAULT 'config',
  PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS segment_members (
  workspace  TEXT NOT NULL,
  segment    TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  since      INTEGER NOT NULL,
  PRIMARY KEY (workspace, segment, profile_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS segment_members_profile ON segment_members (workspace, profile_id);
CREATE TABLE IF NOT EXISTS segment_history (
  seq        INTEGER PRIMARY KEY,
  workspace  TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  segment    TEXT NOT NULL,
  change     TEXT NOT NULL,
  time       INTEGER NOT NULL,
  reason     TEXT NOT NULL,
  position   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS segment_history_profile ON segment_history (workspace, profile_id, seq);
-- One row per segment per commit that changed its size.
CREATE TABLE IF NOT EXISTS segment_sizes (
  workspace TEXT NOT NULL,
  segment   TEXT NOT NULL,
  at        INTEGER NOT NULL,
  size      INTEGER NOT NULL,
  PRIMARY KEY (workspace, segment, at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segment_schedule (
  workspace  TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  due_at     INTEGER NOT NULL,
  PRIMARY KEY (workspace, profile_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS segment_schedule_due ON segment_schedule (due_at);
CREATE TABLE IF NOT EXISTS profile_tags (
  workspace  TEXT NOT NULL,
  tag        TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  since      INTEGER NOT NULL,
  PRIMARY KEY (workspace, tag, profile_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS profile_tags_profile ON profile_tags (workspace, profile_id);
-- Notifications written in the same transaction as the state change they report. AUTOINCREMENT:
-- a sequence number is never reused, even if every row is deleted, so delivery cursors stay valid.
CREATE TABLE IF NOT EXISTS outbox (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  workspace  TEXT NOT NULL,
  kind       TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  payload    TEXT NOT NULL,
  position   INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
`;

type Row = Record<string, unknown>;

export class SqliteSegmentStore implements SegmentStore {
  private readonly s;

  constructor(
    private readonly db: Database.Database,
    private readonly sealer?: ValueSealer,
  ) {
    this.s = {
      // Without statistics the planner prefers the primary key's workspace prefix (a scan of the workspace): name the index.
      membersIn: db.prepare('SELECT profile_id, segment, since FROM segment_members INDEXED BY segment_members_profile WHERE workspace = ? AND profile_id IN (SELECT value FROM json_each(?))'),
      // Read with every profile: prepared once.
      profileTags: db.prepare(
        `SELECT tag, since, 'manual' AS source FROM profile_tags INDEXED BY profile_tags_profile WHERE workspace = ? AND profile_id = ?
         UNION ALL SELECT substr(segment, 5) AS tag, since, 'rule' AS source FROM segment_members INDEXED BY segment_members_profile
           WHERE workspace = ? AND profile_id = ? AND segment LIKE 'tag:%'
         ORDER BY tag`,
      ),
      enter: db.prepare('INSERT OR REPLACE INTO segment_members (workspace, segment, profile_id, since) VALUES (?, ?, ?, ?)'),
      exit: db.prepare('DELETE FROM segment_members WHERE workspace = ? AND segment = ? AND profile_id = ?'),
      history: db.prepare('INSERT INTO segment_history (workspace, profile_id, segment, change, time, reason, position) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      size: db.prepare('INSERT OR REPLACE INTO segment_sizes (workspace, segment, at, size) VALUES (?, ?, ?, ?)'),
      scheduleIn: db.prepare('SELECT profile_id, due_at FROM segment_schedule WHERE workspace = ? AND profile_id IN (SELECT value FROM json_each(?))'),
      setDue: db.prepare('INSERT INTO segment_schedule (workspace, profile_id, due_at) VALUES (?, ?, ?) ON CONFLICT(workspace, profile_id) DO UPDATE SET due_at = excluded.due_at'),
      clearDue: db.prepare('DELETE FROM segment_schedule WHERE workspace = ? AND profile_id = ?'),
      outbox: db.prepare('INSERT INTO outbox (workspace, kind, profile_id, payload, position, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
      upsertDef: db.prepare(
        `INSERT INTO segment_definitions (kind, name, definition, hash, version, status, cursor, after_position, updated_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(kind, name) DO UPDATE SET definition = excluded.definition, hash = excluded.hash, version = excluded.version, status = excluded.status,
           cursor = excluded.cursor, after_position = excluded.after_position, updated_at = excluded.updated_at, source = excluded.source`,
      ),
    };
  }

  /** Writes a changeset's segment part and outbox rows; runs inside the state store's commit transaction. */
  apply(c: Pick<Changeset, 'segments' | 'outbox'>): void {
    const s = this.s;
    const seg = c.segments;
    if (seg !== undefined) {
      for (const m of seg.changes) {
        if (m.change === 'entered') s.enter.run(m.workspace, m.segment, m.profileId, m.time);
        else s.exit.run(m.workspace, m.segment, m.profileId);
        s.history.run(m.workspace, m.profileId, m.segment, m.change, m.time, m.reason, m.position);
      }
      for (const d of seg.schedule) {
        if (d.dueAt === null) s.clearDue.run(d.workspace, d.profileId);
        else s.setDue.run(d.workspace, d.profileId, d.dueAt);
      }
      for (const z of seg.sizes) s.size.run(z.workspace, z.segment, z.at, z.size);
      for (const d of seg.definitions ?? []) this.writeDefinition(d);
    }
    for (const o of c.outbox ?? []) s.outbox.run(o.workspace, o.kind, o.profileId, JSON.stringify(o.payload), o.position, o.createdAt);
  }

  private writeDefinition(d: SegmentDefinitionRow): void {
    this.s.upsertDef.run(d.kind, d.name, JSON.stringify(d.definition), d.hash, d.version, d.status, d.cursor, d.after, d.updatedAt, d.source);
  }

  async definitions(): Promise<SegmentDefinitionRow[]> {
    return (this.db.prepare('SELECT * FROM segment_definitions ORDER BY kind, name').all() as Row[]).map(toSegmentDefinition);
  }

  async saveDefinitions(rows: SegmentDefinitionRow[]): Promise<void> {
    this.db.transaction(() => {
      for (const d of rows) this.writeDefinition(d);
    })();
  }

  async deleteDefinition(kind: SegmentDefinitionRow['kind'], name: string): Promise<void> {
    const key = kind === 'tag' ? `tag:${name}` : name;
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM segment_definitions WHERE kind = ? AND name = ?').run(kind, name);
      this.db.prepare('DELETE FROM segment_members WHERE segment = ?').run(key);
      if (kind === 'tag') this.db.prepare('DELETE FROM profile_tags WHERE tag = ?').run(name);
    })();
  }

  /** Each profile's current memberships (an empty map for one in none): one statement per workspace (the engine asks for a batch's profiles). */
  async memberships(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, Map<string, number>>> {
    const out = new Map<string, Map<string, number>>();
    for (const k of keys) out.set(scoped(k.workspace, k.id), new Map());
    for (const [workspace, ids] of idsByWorkspace(keys, (k) => k.id)) {
      for (const r of this.s.membersIn.iterate(workspace, ids) as Iterable<{ profile_id: string; segment: string; since: number }>) out.get(scoped(workspace, r.profile_id))!.set(r.segment, r.since);
    }
    return out;
  }

  /** Each scheduled profile's next re-evaluation time: one statement per workspace. */
  async schedule(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [workspace, ids] of idsByWorkspace(keys, (k) => k.id)) {
      for (const r of this.s.scheduleIn.iterate(workspace, ids) as Iterable<{ profile_id: string; due_at: number }>) out.set(scoped(workspace, r.profile_id), r.due_at);
    }
    return out;
  }

  async due(now: number, limit: number): Promise<Array<{ workspace: string; id: string; dueAt: number }>> {
    const rows = this.db.prepare('SELECT workspace, profile_id, due_at FROM segment_schedule WHERE due_at <= ? ORDER BY due_at LIMIT ?').all(now, limit) as Row[];
    return rows.map((r) => ({ workspace: r.workspace as string, id: r.profile_id as string, dueAt: r.due_at as number }));
  }

  async nextDue(): Promise<number | undefined> {
    const r = this.db.prepare('SELECT MIN(due_at) AS d FROM segment_schedule').get() as { d: number | null };
    return r.d ?? undefined;
  }

  async profilesAfter(cursor: number, limit: number): Promise<Array<{ cursor: number; doc: ProfileDoc }>> {
    const rows = this.db.prepare('SELECT rowid AS r, doc FROM profiles WHERE rowid > ? ORDER BY rowid LIMIT ?').all(cursor, limit) as Array<{ r: number; doc: string }>;
    return rows.map((x) => ({ cursor: x.r, doc: openDoc(this.sealer, JSON.parse(x.doc) as ProfileDoc) }));
  }

  async lastProfileCursor(): Promise<number> {
    return (this.db.prepare('SELECT MAX(rowid) AS r FROM profiles').get() as { r: number | null }).r ?? 0;
  }

  async orphanMemberships(limit: number): Promise<Array<{ workspace: string; id: string }>> {
    const rows = this.db
      .prepare(
        `SELECT DISTINCT m.workspace, m.profile_id FROM segment_members m
         WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.workspace = m.workspace AND p.id = m.profile_id) LIMIT ?`,
      )
      .all(limit) as Row[];
    return rows.map((r) => ({ workspace: r.workspace as string, id: r.profile_id as string }));
  }

  async sizes(): Promise<Array<{ workspace: string; segment: string; size: number }>> {
    return this.db.prepare('SELECT workspace, segment, COUNT(*) AS size FROM segment_members GROUP BY workspace, segment').all() as Array<{ workspace: string; segment: string; size: number }>;
  }

  async members(workspace: string, segment: string, opts: { after?: string; limit: number }): Promise<Array<{ profileId: string; since: number }>> {
    const rows = this.db
      .prepare('SELECT profile_id, since FROM segment_members WHERE workspace = ? AND segment = ? AND profile_id > ? ORDER BY profile_id LIMIT ?')
      .all(workspace, segment, opts.after ?? '', opts.limit) as Row[];
    return rows.map((r) => ({ profileId: r.profile_id as string, since: r.since as number }));
  }

  async sizeHistory(workspace: string, segment: string, opts: { from?: number; to?: number; limit: number }): Promise<Array<{ at: number; size: number }>> {
    return this.db
      .prepare('SELECT at, size FROM segment_sizes WHERE workspace = ? AND segment = ? AND at >= ? AND at <= ? ORDER BY at DESC LIMIT ?')
      .all(workspace, segment, opts.from ?? 0, opts.to ?? Number.MAX_SAFE_INTEGER, opts.limit) as Array<{ at: number; size: number }>;
  }

  async membershipHistory(workspace: string, profileId: string, limit: number): Promise<MembershipChange[]> {
    return (this.db.prepare('SELECT * FROM segment_history WHERE workspace = ? AND profile_id = ? ORDER BY seq DESC LIMIT ?').all(workspace, profileId, limit) as Row[]).map(toMembershipChange);
  }

  async outbox(opts: { after?: number; limit: number }): Promise<Array<OutboxEntry & { seq: number }>> {
    return (this.db.prepare('SELECT * FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?').all(opts.after ?? 0, opts.limit) as Row[]).map(toOutboxEntry);
  }

  async setTag(workspace: string, tag: string, profileId: string, since: number): Promise<boolean> {
    return this.db.prepare('INSERT OR IGNORE INTO profile_tags (workspace, tag, profile_id, since) VALUES (?, ?, ?, ?)').run(workspace, tag, profileId, since).changes > 0;
  }

  async unsetTag(workspace: string, tag: string, profileId: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM profile_tags WHERE workspace = ? AND tag = ? AND profile_id = ?').run(workspace, tag, profileId).changes > 0;
  }

  async storedManualTags(): Promise<Array<{ workspace: string; tag: string; profileId: string; since: number }>> {
    return this.db.prepare('SELECT workspace, tag, profile_id AS profileId, since FROM profile_tags ORDER BY workspace, tag, profile_id').all() as Array<{ workspace: string; tag: string; profileId: string; since: number }>;
  }

  async profileTags(workspace: string, profileId: string): Promise<Array<{ tag: string; since: number; source: 'manual' | 'rule' }>> {
    return this.s.profileTags.all(workspace, profileId, workspace, profileId) as Array<{ tag: string; since: number; source: 'manual' | 'rule' }>;
  }

  async tagCounts(workspace: string): Promise<Array<{ tag: string; count: number }>> {
    return this.db
      .prepare(
        `SELECT tag, COUNT(*) AS count FROM (
           SELECT tag, profile_id FROM profile_tags WHERE workspace = ?
           UNION SELECT substr(segment, 5) AS tag, profile_id FROM segment_members WHERE workspace = ? AND segment LIKE 'tag:%')
         GROUP BY tag ORDER BY tag`,
      )
      .all(workspace, workspace) as Array<{ tag: string; count: number }>;
  }

  async tagMembers(workspace: string, tag: string, opts: { after?: string; limit: number }): Promise<Array<{ profileId: string; since: number }>> {
    const rows = this.db
      .prepare(
        `SELECT profile_id, MIN(since) AS since FROM (
           SELECT profile_id, since FROM profile_tags WHERE workspace = ? AND tag = ?
           UNION ALL SELECT profile_id, since FROM segment_members WHERE workspace = ? AND segment = ?)
         WHERE profile_id > ? GROUP BY profile_id ORDER BY profile_id LIMIT ?`,
      )
      .all(workspace, tag, workspace, `tag:${tag}`, opts.after ?? '', opts.limit) as Row[];
    return rows.map((r) => ({ profileId: r.profile_id as string, since: r.since as number }));
  }
}
