/**
 * The embedded state store on SQLite (WAL). Reads are synchronous underneath;
 * the async surface is the contract the PostgreSQL store shares.
 */
import Database from 'better-sqlite3';
import type { IdentityConflict, IdentityLink, MergeRecord } from '../../core/identity.ts';
import { canonicalJson, type ProfileDoc } from '../../core/profile.ts';
import { Errors } from '../../core/errors.ts';
import { auditWhere, toAuditRecord, type AuditQuery, type AuditRecord, type AuditStore } from '../audit.ts';
import type { Migratable, Migration, MigrationStatus } from '../migrations.ts';
import type { ApiKeyRow, AttributeConflict, AttributePrefilter, Changeset, DefinitionRow, HistoryEntry, NewQuarantineRow, ProfilePageRequest, QuarantineRow, StateStore } from '../store.ts';
import { scoped } from '../store.ts';
import { openDoc, type ResealableStore, type RewriteReport, type SealedRewrite, type ValueSealer } from '../sealer.ts';
import { rewriteSealedSqlite } from './sqlite-reseal.ts';
import { DUMP_TABLES, historyRows, type HistoryRow, openedConflictRow, openedEntries, pageHistory, toAttributeConflict, toDefinition, toIdentityConflict, toKey, toLink, toMerge, toQuarantine, type Row } from '../rows.ts';
import { countProfiles, profilePage } from './sqlite-profile-page.ts';
import { scanProfiles } from './sqlite-profile-scan.ts';
import { migrateSqlite, sqliteMigrationStatus } from './sqlite-migrate.ts';
import { DERIVED_TABLES, SQLITE_MIGRATIONS } from './sqlite-schema.ts';
import { SqliteSegmentStore } from './sqlite-segments.ts';
import { idsByWorkspace } from './by-workspace.ts';
import { SqlitePrivacyStore } from './sqlite-privacy.ts';
import { openDataKeyFile, SqliteDataKeys, SqliteRetention } from './sqlite-data-keys.ts';
import { insertAudit, insertQuarantine } from './sqlite-request-writes.ts';
import { SqliteStateWriter } from './sqlite-state-writer.ts';
import { sealConflicts, sealProfiles, sortedProfiles, type CommitRest, type SealedConflictRow, type SealedProfileRow } from './sealed-rows.ts';
import { CommitThread } from './sqlite-commit-thread.ts';
import { BACKSTOP_CHECKPOINT_PAGES, Checkpointer } from './sqlite-checkpointer.ts';

export interface SqliteStoreOptions {
  file: string;
  /** 'normal' (default): state can be rebuilt from the log, so a lost last commit after power loss only rewinds the position with it. */
  durability?: 'full' | 'normal';
  /** SQLite page cache size (MiB); default 256. */
  cacheMiB?: number;
  /** Seals personal attribute values in profile documents, history and conflicts (absent: stored as they are). */
  sealer?: ValueSealer;
  /**
   * Makes the writes of request handling (new data keys, audit records,
   * quarantined messages) in threads of their own (one per file written), so
   * that waiting for another connection's write lock (the engine's) never
   * blocks this thread. For a file shared with an engine thread; not for
   * ':memory:'.
   */
  writerThread?: boolean;
  /**
   * Commits are written by a thread of their own while this one encodes them
   * (a file only): for the engine, whose commits are its largest cost.
   */
  commitThread?: boolean;
  /**
   * Checkpoints the file from a thread of its own after commits
   * (sqlite-checkpointer.ts), so that copying the WAL into the database file
   * never holds up a commit; this connection then checkpoints only as a
   * backstop. For the engine's store (a file only).
   */
  checkpointThread?: boolean;
}

export class SqliteStore implements StateStore, Migratable, AuditStore, ResealableStore {
  readonly db: Database.Database;
  /** The data-key file's own connection (see openDataKeyFile); exposed, like `db`, for tests and tools. */
  readonly keysDb: Database.Database;
  private readonly stmts;
  private readonly commitTx: Database.Transaction<(c: Changeset) => void>;
  readonly segments: SqliteSegmentStore;
  readonly privacy: SqlitePrivacyStore;
  readonly dataKeys: SqliteDataKeys;
  readonly retention: SqliteRetention;
  readonly sealer: ValueSealer | undefined;
  private readonly writers: { state: SqliteStateWriter; keys: SqliteStateWriter } | undefined;
  private readonly committer: CommitThread | undefined;
  private readonly checkpointer: Checkpointer | undefined;
  private readonly threadsReady: Promise<unknown>;

  constructor(opts: SqliteStoreOptions) {
    this.sealer = opts.sealer;
    this.db = new Database(opts.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    // Profile writes touch pages all over the table: keep them in memory and checkpoint less often.
    this.db.pragma(`cache_size = -${(opts.cacheMiB ?? 256) * 1024}`);
    this.db.pragma('mmap_size = 1073741824');
    this.db.pragma('wal_autocheckpoint = 10000');
    this.db.pragma('temp_store = MEMORY');
    // Erased rows must not linger in free pages: deleted content is overwritten with zeros.
    this.db.pragma('secure_delete = ON');
    migrateSqlite(this.db, SQLITE_MIGRATIONS);
    this.keysDb = openDataKeyFile(opts.file, this.db);
    const db = this.db;
    this.segments = new SqliteSegmentStore(db, opts.sealer);
    this.privacy = new SqlitePrivacyStore(db, opts.sealer);
    // One thread per file written: a wait for the state file's lock (audit records) never holds up a new data key.
    const writer = () => new SqliteStateWriter({ file: opts.file, durability: opts.durability ?? 'normal' });
    this.writers = opts.writerThread ? { state: writer(), keys: writer() } : undefined;
    this.dataKeys = new SqliteDataKeys(this.keysDb, this.writers?.keys);
    this.retention = new SqliteRetention(db);
    this.stmts = {
      position: db.prepare('SELECT position FROM engine_position WHERE partition = ?'),
      setPosition: db.prepare('INSERT INTO engine_position (partition, position) VALUES (?, ?) ON CONFLICT(partition) DO UPDATE SET position = excluded.position'),
      identity: db.prepare('SELECT profile_id FROM identities WHERE workspace = ? AND ident = ?'),
      // json_each keeps the statement fixed-shape and parameterised whatever the number of keys.
      identitiesIn: db.prepare('SELECT ident, profile_id FROM identities WHERE workspace = ? AND ident IN (SELECT value FROM json_each(?))'),
      profile: db.prepare('SELECT doc FROM profiles WHERE workspace = ? AND id = ?'),
      profilesIn: db.prepare('SELECT id, doc FROM profiles WHERE workspace = ? AND id IN (SELECT value FROM json_each(?))'),
      // Looked up by every authenticated request: prepared once.
      key: db.prepare('SELECT * FROM api_keys WHERE id = ?'),
      upsertProfile: db.prepare('INSERT INTO profiles (workspace, id, doc) VALUES (?, ?, ?) ON CONFLICT(workspace, id) DO UPDATE SET doc = excluded.doc'),
      deleteProfile: db.prepare('DELETE FROM profiles WHERE workspace = ? AND id = ?'),
      upsertIdentity: db.prepare('INSERT INTO identities (workspace, ident, profile_id) VALUES (?, ?, ?) ON CONFLICT(workspace, ident) DO UPDATE SET profile_id = excluded.profile_id'),
      deleteIdentity: db.prepare('DELETE FROM identities WHERE workspace = ? AND ident = ?'),
      insertLink: db.prepare('INSERT OR REPLACE INTO identity_links (workspace, a, b, via, position, message_id, time) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      deleteLink: db.prepare('DELETE FROM identity_links WHERE workspace = ? AND ((a = ? AND b = ?) OR (a = ? AND b = ?))'),
      insertBlocked: db.prepare('INSERT OR IGNORE INTO blocked_links (workspace, a, b) VALUES (?, ?, ?)'),
      insertMerge: db.prepare('INSERT INTO merges (kind, workspace, into_id, from_id, a, b, position, message_id, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      insertIdentityConflict: db.prepare('INSERT OR IGNORE INTO identity_conflicts (workspace, reason, a, b, profile_a, profile_b, position, message_id, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      insertAttributeConflict: db.prepare('INSERT INTO attribute_conflicts (workspace, profile_id, attribute, reason, kept, rejected, position, message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      insertHistory: db.prepare('INSERT INTO trait_history (workspace, profile_id, first_position, last_position, entries) VALUES (?, ?, ?, ?, ?)'),
      upsertDefinition: db.prepare(
        `INSERT INTO definitions (name, hash, version, definition, status, backfill_cursor, backfill_target, updated_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET hash = excluded.hash, version = excluded.version, definition = excluded.definition, status = excluded.status,
           backfill_cursor = excluded.backfill_cursor, backfill_target = excluded.backfill_target, updated_at = excluded.updated_at, source = excluded.source`,
      ),
    };
    this.commitTx = db.transaction((c: Changeset) => this.applyChangeset(c));
    if (opts.commitThread && !db.memory) this.committer = new CommitThread({ file: opts.file, durability: opts.durability, cacheMiB: opts.cacheMiB });
    if (opts.checkpointThread && !db.memory) {
      db.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
      this.checkpointer = new Checkpointer({ file: opts.file });
    }
    this.threadsReady = Promise.all([this.writers?.keys.ready(), this.checkpointer?.ready()]);
    // Awaited by ready(); this only keeps a thread that fails before anyone awaits it from being an unhandled rejection.
    this.threadsReady.catch(() => undefined);
  }

  /**
   * Resolves once the store's threads are loaded: the data-key writer (every
   * first event of a new person waits for it) and the checkpoint thread. They
   * start with the store; a caller that opens it for a server awaits this
   * before the first request rather than let that request wait for them.
   */
  async ready(): Promise<void> {
    await this.threadsReady;
  }

  private applyChangeset(c: Changeset): void {
    this.checkPosition(c);
    this.writeDeletedProfiles(c);
    this.writeProfiles(sealProfiles(this.sealer, sortedProfiles(c.profiles)));
    this.writeHistory(historyRows(c.history, this.sealer));
    this.writeRest(c, sealConflicts(this.sealer, c.attributeConflicts));
    this.stmts.setPosition.run(c.partition, c.position);
  }

  private checkPosition(c: Pick<Changeset, 'partition' | 'expectPosition'>): void {
    if (c.expectPosition === undefined) return;
    const actual = this.positionSync(c.partition);
    if (actual !== c.expectPosition) throw Errors.staleWriter(c.partition, c.expectPosition, actual);
  }

  private writeDeletedProfiles(c: Pick<Changeset, 'deletedProfiles'>): void {
    for (const d of c.deletedProfiles) this.stmts.deleteProfile.run(d.workspace, d.id);
  }

  private writeProfiles(rows: readonly SealedProfileRow[]): void {
    for (const r of rows) this.stmts.upsertProfile.run(r[0], r[1], r[2]);
  }

  private writeHistory(rows: readonly HistoryRow[]): void {
    for (const h of rows) this.stmts.insertHistory.run(h.workspace, h.profileId, h.firstPosition, h.lastPosition, h.entries);
  }

  /** Everything of a changeset but its profiles, history and position. */
  private writeRest(c: CommitRest, conflicts: readonly SealedConflictRow[]): void {
    const s = this.stmts;
    // Writing in key order keeps B-tree page writes local (far fewer pages per commit).
    c.identities.sort((a, b) => (a.workspace !== b.workspace ? (a.workspace < b.workspace ? -1 : 1) : a.ident < b.ident ? -1 : a.ident > b.ident ? 1 : 0));
    for (const d of c.deletedIdentities ?? []) s.deleteIdentity.run(d.workspace, d.ident);
    for (const i of c.identities) s.upsertIdentity.run(i.workspace, i.ident, i.profileId);
    for (const l of c.deletedLinks ?? []) s.deleteLink.run(l.workspace, l.a, l.b, l.b, l.a);
    for (const l of c.links) s.insertLink.run(l.workspace, l.a, l.b, l.via, l.position, l.messageId, l.time);
    for (const b of c.blockedLinks ?? []) s.insertBlocked.run(b.workspace, b.a, b.b);
    for (const m of c.merges) s.insertMerge.run(m.kind, m.workspace, m.into, m.from, m.a, m.b, m.position, m.messageId, m.time);
    for (const x of c.identityConflicts) s.insertIdentityConflict.run(x.workspace, x.reason, x.a, x.b, x.profileA, x.profileB, x.position, x.messageId, x.time);
    for (const x of conflicts) s.insertAttributeConflict.run(...x);
    for (const d of c.definitions ?? []) this.writeDefinition(d);
    if (c.segments !== undefined || c.outbox !== undefined) this.segments.apply(c);
  }

  private writeDefinition(d: DefinitionRow): void {
    this.stmts.upsertDefinition.run(d.name, d.hash, d.version, JSON.stringify(d.definition), d.status, d.backfillCursor, d.backfillTarget, d.updatedAt, d.source);
  }

  async position(partition: number): Promise<number> {
    return this.positionSync(partition);
  }

  positionSync(partition: number): number {
    const row = this.stmts.position.get(partition) as { position: number } | undefined;
    return row?.position ?? 0;
  }

  async identities(keys: ReadonlyArray<{ workspace: string; ident: string }>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (keys.length === 1) {
      const k = keys[0]!;
      const row = this.stmts.identity.get(k.workspace, k.ident) as { profile_id: string } | undefined;
      if (row) out.set(scoped(k.workspace, k.ident), row.profile_id);
      return out;
    }
    // One statement per workspace for the engine's prefetch (a third of the cost of one per key).
    for (const [workspace, idents] of idsByWorkspace(keys, (k) => k.ident)) {
      for (const row of this.stmts.identitiesIn.iterate(workspace, idents) as Iterable<{ ident: string; profile_id: string }>) out.set(scoped(workspace, row.ident), row.profile_id);
    }
    return out;
  }

  async profiles(keys: ReadonlyArray<{ workspace: string; id: string }>): Promise<Map<string, ProfileDoc>> {
    const out = new Map<string, ProfileDoc>();
    const put = (workspace: string, id: string, doc: string) => out.set(scoped(workspace, id), openDoc(this.sealer, JSON.parse(doc) as ProfileDoc));
    if (keys.length === 1) {
      const k = keys[0]!;
      const row = this.stmts.profile.get(k.workspace, k.id) as { doc: string } | undefined;
      if (row) put(k.workspace, k.id, row.doc);
      return out;
    }
    // The engine's prefetch: one statement per workspace.
    for (const [workspace, ids] of idsByWorkspace(keys, (k) => k.id)) {
      for (const row of this.stmts.profilesIn.iterate(workspace, ids) as Iterable<{ id: string; doc: string }>) put(workspace, row.id, row.doc);
    }
    return out;
  }

  async linksAmong(workspace: string, idents: readonly string[]): Promise<IdentityLink[]> {
    const rows = this.db
      .prepare(
        `SELECT * FROM identity_links WHERE workspace = ?
           AND (a IN (SELECT value FROM json_each(?)) OR b IN (SELECT value FROM json_each(?)))
         ORDER BY position, a, b`,
      )
      .all(workspace, JSON.stringify(idents), JSON.stringify(idents)) as Row[];
    return rows.map(toLink);
  }

  async blockedLinks(): Promise<Array<{ workspace: string; a: string; b: string }>> {
    return this.db.prepare('SELECT workspace, a, b FROM blocked_links ORDER BY workspace, a, b').all() as Array<{ workspace: string; a: string; b: string }>;
  }

  async commit(changes: Changeset): Promise<void> {
    this.checkpointer?.check();
    if (this.committer !== undefined) await this.committer.commit(changes, this.sealer);
    // A guarded commit takes the write lock before reading the position, so the check and the write are one step.
    else if (changes.expectPosition !== undefined) this.commitTx.immediate(changes);
    else this.commitTx(changes);
    this.checkpointer?.written();
  }

  /** Both paths of `commit` encode the changeset before their first wait: on this thread, or to post it to the commit thread. */
  commitDetached(changes: Changeset): { landed: Promise<void> } {
    return { landed: this.commit(changes) };
  }

  /**
   * The steps of a commit made by another thread (sqlite-commit-thread.ts) on
   * this connection, with rows sealed and encoded by the committing thread:
   * begin (the write lock at once, then every part that needs no encoding),
   * profiles and history in any number of parts, then finish (the position,
   * COMMIT) or abort.
   */
  readonly sealedCommit = {
    begin: (c: CommitRest, conflicts: readonly SealedConflictRow[]): void => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        this.checkPosition(c);
        this.writeDeletedProfiles(c);
        this.writeRest(c, conflicts);
      } catch (e) {
        this.db.exec('ROLLBACK');
        throw e;
      }
    },
    profiles: (rows: readonly SealedProfileRow[]): void => this.writeProfiles(rows),
    history: (rows: readonly HistoryRow[]): void => this.writeHistory(rows),
    finish: (c: Pick<Changeset, 'partition' | 'position'>): void => {
      this.stmts.setPosition.run(c.partition, c.position);
      this.db.exec('COMMIT');
    },
    abort: (): void => {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    },
  };

  async migrationStatus(): Promise<MigrationStatus> {
    return sqliteMigrationStatus(this.db, SQLITE_MIGRATIONS);
  }

  /** Migrations run when the store opens; this applies any left (none, unless another process rolled back). */
  async migrate(): Promise<Migration[]> {
    return migrateSqlite(this.db, SQLITE_MIGRATIONS);
  }

  async history(workspace: string, profileId: string, opts: { limit?: number; before?: number } = {}): Promise<HistoryEntry[]> {
    const before = opts.before ?? Number.MAX_SAFE_INTEGER;
    const limit = opts.limit ?? 100;
    const rows = this.db
      .prepare('SELECT entries FROM trait_history WHERE workspace = ? AND profile_id = ? AND first_position < ? ORDER BY last_position DESC, seq DESC')
      .iterate(workspace, profileId, before) as Iterable<{ entries: string }>;
    return pageHistory(workspace, profileId, rows, before, limit, this.sealer);
  }

  async merges(workspace: string, profileId: string): Promise<MergeRecord[]> {
    const rows = this.db.prepare('SELECT * FROM merges WHERE workspace = ? AND (into_id = ? OR from_id = ?) ORDER BY seq').all(workspace, profileId, profileId) as Row[];
    return rows.map(toMerge);
  }

  async identityConflicts(workspace: string): Promise<IdentityConflict[]> {
    const rows = this.db.prepare('SELECT * FROM identity_conflicts WHERE workspace = ? ORDER BY seq').all(workspace) as Row[];
    return rows.map(toIdentityConflict);
  }

  async attributeConflicts(workspace: string, profileId: string): Promise<AttributeConflict[]> {
    const rows = this.db.prepare('SELECT * FROM attribute_conflicts WHERE workspace = ? AND profile_id = ? ORDER BY seq').all(workspace, profileId) as Row[];
    return rows.map((r) => toAttributeConflict(r, this.sealer));
  }

  async profileCount(workspace?: string, segment?: string): Promise<number> {
    if (workspace !== undefined) return countProfiles(this.db, workspace, segment);
    return this.db.prepare('SELECT COUNT(*) FROM profiles').pluck().get() as number;
  }

  async scanProfiles(workspace: string, prefilters: readonly AttributePrefilter[], visit: (doc: ProfileDoc) => void, segment?: string): Promise<number> {
    // A file: scan on a read-only connection of its own, so the scan can yield and other reads go on.
    // In memory, a second connection would see an empty database: scan on this one, in one go.
    // Sealed values cannot be compared in SQL: conditions on them are checked in memory only.
    const usable = this.sealer === undefined ? prefilters : prefilters.filter((f) => !this.sealer!.sealed(f.attribute));
    const opened = this.sealer === undefined ? visit : (doc: ProfileDoc) => visit(openDoc(this.sealer, doc));
    if (this.db.memory) return scanProfiles(this.db, workspace, usable, opened, false, segment);
    const own = this.readConnection();
    try {
      return await scanProfiles(own, workspace, usable, opened, true, segment);
    } finally {
      own.close();
    }
  }

  async profilePage(workspace: string, page: ProfilePageRequest): Promise<{ docs: ProfileDoc[]; total: number }> {
    // A file: read on a connection of its own, since a commit made by another thread may hold this one's transaction open.
    const db = this.db.memory ? this.db : this.readConnection();
    try {
      const out = profilePage(db, workspace, page);
      return { docs: out.docs.map((d) => openDoc(this.sealer, d)), total: out.total };
    } finally {
      if (db !== this.db) db.close();
    }
  }

  /** A read-only connection to this store's file, for reads that must see committed state only. */
  private readConnection(): Database.Database {
    const own = new Database(this.db.name, { readonly: true, fileMustExist: true });
    own.pragma('mmap_size = 1073741824');
    return own;
  }

  async definitions(): Promise<DefinitionRow[]> {
    const rows = this.db.prepare('SELECT * FROM definitions ORDER BY name').all() as Row[];
    return rows.map(toDefinition);
  }

  async saveDefinitions(rows: DefinitionRow[]): Promise<void> {
    this.db.transaction(() => {
      for (const d of rows) this.writeDefinition(d);
    })();
  }

  async deleteDefinition(name: string): Promise<void> {
    this.db.prepare('DELETE FROM definitions WHERE name = ?').run(name);
  }

  async quarantine(row: NewQuarantineRow): Promise<number> {
    if (this.writers) return this.writers.state.quarantine(row);
    return insertQuarantine(this.db, row);
  }

  async quarantined(workspace: string, opts: { status?: QuarantineRow['status']; limit?: number; after?: number } = {}): Promise<QuarantineRow[]> {
    const rows = this.db
      .prepare('SELECT * FROM quarantine WHERE workspace = ? AND status = ? AND id > ? ORDER BY id LIMIT ?')
      .all(workspace, opts.status ?? 'open', opts.after ?? 0, opts.limit ?? 100) as Row[];
    return rows.map(toQuarantine);
  }

  async quarantinedById(workspace: string, id: number): Promise<QuarantineRow | undefined> {
    const row = this.db.prepare('SELECT * FROM quarantine WHERE workspace = ? AND id = ?').get(workspace, id) as Row | undefined;
    return row ? toQuarantine(row) : undefined;
  }

  async markResubmitted(workspace: string, id: number): Promise<void> {
    this.db.prepare(`UPDATE quarantine SET status = 'resubmitted' WHERE workspace = ? AND id = ?`).run(workspace, id);
  }

  async saveKey(k: ApiKeyRow): Promise<void> {
    this.db
      .prepare('INSERT INTO api_keys (id, workspace, secret_hash, scopes, label, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(k.id, k.workspace, k.secretHash, JSON.stringify(k.scopes), k.label, k.createdAt, k.revokedAt);
  }

  async key(id: string): Promise<ApiKeyRow | undefined> {
    const r = this.stmts.key.get(id) as Row | undefined;
    return r ? toKey(r) : undefined;
  }

  async keys(workspace?: string): Promise<ApiKeyRow[]> {
    const rows = (workspace === undefined
      ? this.db.prepare('SELECT * FROM api_keys ORDER BY created_at, id').all()
      : this.db.prepare('SELECT * FROM api_keys WHERE workspace = ? ORDER BY created_at, id').all(workspace)) as Row[];
    return rows.map(toKey);
  }

  async revokeKey(id: string, at: number): Promise<boolean> {
    return this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes > 0;
  }

  async rewriteSealed(rewrite: SealedRewrite, batch: number): Promise<RewriteReport> {
    return rewriteSealedSqlite(this.db, rewrite, batch);
  }

  async appendAudit(records: readonly AuditRecord[]): Promise<void> {
    if (this.writers) return this.writers.state.appendAudit(records);
    insertAudit(this.db, records);
  }

  async auditRecords(q: AuditQuery): Promise<Array<AuditRecord & { seq: number }>> {
    const w = auditWhere(q, () => '?');
    return (this.db.prepare(`SELECT * FROM audit_log WHERE ${w.sql} ORDER BY seq DESC LIMIT ?`).all(...w.params, q.limit) as Row[]).map(toAuditRecord);
  }

  async dump(): Promise<string[]> {
    const out: string[] = [];
    out.push(`position ${canonicalJson(this.db.prepare('SELECT * FROM engine_position ORDER BY partition').all())}`);
    for (const r of this.db.prepare('SELECT workspace, id, doc FROM profiles ORDER BY workspace, id').iterate() as Iterable<Row>)
      out.push(`profile ${r.workspace} ${r.id} ${canonicalJson(openDoc(this.sealer, JSON.parse(r.doc as string) as ProfileDoc))}`);
    for (const [table, order] of DUMP_TABLES) {
      for (const r of this.db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).iterate() as Iterable<Row>)
        out.push(`${table} ${canonicalJson(table === 'attribute_conflicts' ? openedConflictRow(r, this.sealer) : r)}`);
    }
    // History rows group entries by commit, and commit boundaries are not part of the state: list entries one by one.
    const rows = this.db.prepare('SELECT workspace, profile_id, entries FROM trait_history ORDER BY workspace, profile_id, seq').iterate() as Iterable<Row>;
    for (const r of rows) {
      for (const e of openedEntries(r.workspace as string, r.entries as string, this.sealer)) out.push(`trait_history ${r.workspace} ${r.profile_id} ${canonicalJson(e)}`);
    }
    return out;
  }

  async clearDerived(): Promise<void> {
    this.db.transaction(() => {
      for (const t of DERIVED_TABLES) this.db.prepare(`DELETE FROM ${t}`).run();
    })();
  }

  async close(): Promise<void> {
    await this.writers?.state.close();
    await this.writers?.keys.close();
    await this.committer?.close();
    await this.checkpointer?.close();
    if (this.keysDb.open) this.keysDb.close();
    if (this.db.open) this.db.close();
  }
}

