/** The data-key and retention tables on SQLite (see ../privacy-tables.ts). */
import type Database from 'better-sqlite3';
import type { DataKeyTable, RetentionLogEntry, RetentionTable } from '../privacy-tables.ts';

export class SqliteDataKeys implements DataKeyTable {
  private readonly select: Database.Statement;
  private readonly insert: Database.Statement;
  private readonly remove: Database.Statement;

  constructor(private readonly db: Database.Database) {
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
    return this.db.transaction(() => {
      for (const r of rows) this.insert.run(workspace, r.subject, r.sealed, createdAt);
      return this.getSync(
        workspace,
        rows.map((r) => r.subject),
      );
    })();
  }

  async delete(workspace: string, subjects: readonly string[]): Promise<number> {
    if (subjects.length === 0) return 0;
    // Overwrite the freed cells with zeros and copy the zeroed pages into the file at once. A
    // passive checkpoint never waits for the engine's connection; older WAL frames holding the
    // (master-key-sealed) key are overwritten as the WAL is reused, or at a full checkpoint.
    this.db.pragma('secure_delete = ON');
    try {
      const n = this.remove.run(workspace, JSON.stringify(subjects)).changes;
      if (n > 0) this.db.pragma('wal_checkpoint(PASSIVE)');
      return n;
    } finally {
      this.db.pragma('secure_delete = OFF');
    }
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
