/**
 * The data-key and retention tables on SQLite (see ../privacy-tables.ts).
 * Data keys live in a file of their own beside the state file, on
 * connections of their own: SQLite locks per file, so storing a new key never
 * waits for the engine's commits to the state file, which can hold its write
 * lock for seconds under load, and the state file's transactions never wait
 * on the key file. Being the only copy of what opens the
 * log's personal fields, the file is written with synchronous = FULL.
 */
import Database from 'better-sqlite3';
import { DATA_KEYS_SQLITE, type DataKeyTable, type RetentionLogEntry, type RetentionTable } from '../privacy-tables.ts';
import type { SqliteStateWriter } from './sqlite-state-writer.ts';
import type { RewriteReport } from '../sealer.ts';

/** The data-key file of a state file: `state.db` → `state.keys.db`. */
export function dataKeyFileOf(stateFile: string): string {
  return stateFile === ':memory:' ? ':memory:' : `${stateFile.replace(/\.db$/, '')}.keys.db`;
}

/**
 * Opens the data-key file of `stateFile` on a connection of its own
 * (creating it when needed): the state file's connections never touch it,
 * so their transactions never wait on its locks. With `state`, first moves
 * there the keys of a state file from before it had one.
 */
export function openDataKeyFile(stateFile: string, state?: Database.Database): Database.Database {
  const keys = new Database(dataKeyFileOf(stateFile), { timeout: 60_000 });
  if (!keys.memory) keys.pragma('journal_mode = WAL');
  keys.pragma('synchronous = FULL');
  // Deleted keys are overwritten with zeros (crypto-shredding must not leave them in free pages).
  keys.pragma('secure_delete = ON');
  keys.exec(DATA_KEYS_SQLITE.replace('CREATE TABLE data_keys', 'CREATE TABLE IF NOT EXISTS data_keys'));
  if (state !== undefined && state.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'data_keys'`).get() !== undefined) {
    // Two steps, each its own commit: interrupted between them, the next open copies again (existing rows win) and drops.
    const rows = state.prepare('SELECT workspace, subject, sealed_key, created_at FROM data_keys').all() as Array<{ workspace: string; subject: string; sealed_key: string; created_at: number }>;
    const insert = keys.prepare('INSERT OR IGNORE INTO data_keys (workspace, subject, sealed_key, created_at) VALUES (?, ?, ?, ?)');
    keys.transaction(() => {
      for (const r of rows) insert.run(r.workspace, r.subject, r.sealed_key, r.created_at);
    })();
    state.exec('DROP TABLE data_keys');
  }
  return keys;
}

export class SqliteDataKeys implements DataKeyTable {
  private readonly select: Database.Statement;
  private readonly insert: Database.Statement;
  private readonly remove: Database.Statement;

  /** `db`: a connection to the data-key file (openDataKeyFile). With `writer`, new keys are stored by the state writer thread (reads and deletes stay on `db`). */
  constructor(
    private readonly db: Database.Database,
    private readonly writer?: SqliteStateWriter,
  ) {
    // json_each keeps each statement fixed-shape and parameterised whatever the number of subjects.
    this.select = db.prepare('SELECT subject, sealed_key FROM data_keys WHERE workspace = ? AND subject IN (SELECT value FROM json_each(?))');
    this.insert = db.prepare('INSERT INTO data_keys (workspace, subject, sealed_key, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(workspace, subject) DO NOTHING');
    this.remove = db.prepare('DELETE FROM data_keys WHERE workspace = ? AND subject IN (SELECT value FROM json_each(?))');
  }

  async get(workspace: string, subjects: readonly string[]): Promise<Map<string, string>> {
    return this.getSync(workspace, subjects);
  }

  private getSync(workspace: string, subjects: readonly string[]): Map<string, string> {
    const out = new Map<string, string>();
    if (subjects.length === 0) return out;
    for (const r of this.select.all(workspace, JSON.stringify(subjects)) as Array<{ subject: string; sealed_key: string }>) out.set(r.subject, r.sealed_key);
    return out;
  }

  async insertMissing(workspace: string, rows: ReadonlyArray<{ subject: string; sealed: string }>, createdAt: number): Promise<Map<string, string>> {
    if (this.writer) return this.writer.insertDataKeys(workspace, rows, createdAt);
    return this.insertMissingSync(workspace, rows, createdAt);
  }

  /** insertMissing on this connection, in one transaction (a savepoint inside an open one). */
  insertMissingSync(workspace: string, rows: ReadonlyArray<{ subject: string; sealed: string }>, createdAt: number): Map<string, string> {
    return this.db.transaction(() => {
      for (const r of rows) this.insert.run(workspace, r.subject, r.sealed, createdAt);
      return this.getSync(
        workspace,
        rows.map((r) => r.subject),
      );
    })();
  }

  async rewrite(f: (workspace: string, subject: string, sealed: string) => string | undefined, batch: number): Promise<RewriteReport> {
    const page = this.db.prepare('SELECT workspace, subject, sealed_key FROM data_keys WHERE (workspace, subject) > (?, ?) ORDER BY workspace, subject LIMIT ?');
    const update = this.db.prepare('UPDATE data_keys SET sealed_key = ? WHERE workspace = ? AND subject = ? AND sealed_key = ?');
    const report: RewriteReport = { scanned: 0, rewritten: 0, raced: 0 };
    for (let after = ['', '']; ; ) {
      const rows = page.all(after[0], after[1], batch) as Array<{ workspace: string; subject: string; sealed_key: string }>;
      if (rows.length === 0) return report;
      report.scanned += rows.length;
      this.db.transaction(() => {
        for (const r of rows) {
          const next = f(r.workspace, r.subject, r.sealed_key);
          if (next === undefined || next === r.sealed_key) continue;
          if (update.run(next, r.workspace, r.subject, r.sealed_key).changes === 1) report.rewritten++;
          else report.raced++;
        }
      })();
      const last = rows[rows.length - 1]!;
      after = [last.workspace, last.subject];
    }
  }

  async delete(workspace: string, subjects: readonly string[]): Promise<number> {
    if (subjects.length === 0) return 0;
    // The connection overwrites freed cells with zeros (secure_delete); a passive checkpoint copies
    // the zeroed pages into the file at once, without waiting for other connections. Older WAL
    // frames holding the (master-key-sealed) key are overwritten as the WAL is reused.
    const n = this.remove.run(workspace, JSON.stringify(subjects)).changes;
    if (n > 0) this.db.pragma('wal_checkpoint(PASSIVE)');
    return n;
  }
}

export class SqliteRetention implements RetentionTable {
  constructor(private readonly db: Database.Database) {}

  async append(entries: ReadonlyArray<Omit<RetentionLogEntry, 'id'>>): Promise<void> {
    const insert = this.db.prepare('INSERT INTO retention_log (time, workspace, kind, rule, purged) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const e of entries) insert.run(e.time, e.workspace, e.kind, e.rule, e.purged);
    })();
  }

  async list(workspace: string, opts: { limit?: number; before?: number } = {}): Promise<RetentionLogEntry[]> {
    return this.db
      .prepare(`SELECT id, time, workspace, kind, rule, purged FROM retention_log WHERE workspace IN (?, '*') AND id < ? ORDER BY id DESC LIMIT ?`)
      .all(workspace, opts.before ?? Number.MAX_SAFE_INTEGER, opts.limit ?? 100) as RetentionLogEntry[];
  }

  async inactiveProfiles(before: number, opts: { workspace?: string; limit: number }): Promise<Array<{ workspace: string; id: string }>> {
    return this.db
      .prepare(`SELECT workspace, id FROM profiles WHERE (? IS NULL OR workspace = ?) AND json_extract(doc, '$.kind') = 'user' AND json_extract(doc, '$.lastSeen') < ? ORDER BY workspace, id LIMIT ?`)
      .all(opts.workspace ?? null, opts.workspace ?? null, before, opts.limit) as Array<{ workspace: string; id: string }>;
  }
}
