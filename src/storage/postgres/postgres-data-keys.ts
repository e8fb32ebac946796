/** The data-key and retention tables on PostgreSQL (see ../privacy-tables.ts). */
import type pg from 'pg';
import type { DataKeyTable, RetentionLogEntry, RetentionTable } from '../privacy-tables.ts';
import type { RewriteReport } from '../sealer.ts';

export class PostgresDataKeys implements DataKeyTable {
  constructor(private readonly pool: pg.Pool) {}

  async get(workspace: string, subjects: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (subjects.length === 0) return out;
    const r = await this.pool.query<{ subject: string; sealed_key: string }>('SELECT subject, sealed_key FROM data_keys WHERE workspace = $1 AND subject = ANY($2::text[])', [
      workspace,
      [...subjects],
    ]);
    for (const row of r.rows) out.set(row.subject, row.sealed_key);
    return out;
  }

  async insertMissing(workspace: string, rows: ReadonlyArray<{ subject: string; sealed: string }>, createdAt: number): Promise<Map<string, string>> {
    if (rows.length === 0) return new Map();
    // Concurrent nodes may create a key for the same subject: the first insert wins, and every node reads it back.
    await this.pool.query(
      `INSERT INTO data_keys (workspace, subject, sealed_key, created_at)
       SELECT $1, s, k, $4 FROM unnest($2::text[], $3::text[]) AS t(s, k)
       ON CONFLICT (workspace, subject) DO NOTHING`,
      [workspace, rows.map((r) => r.subject), rows.map((r) => r.sealed), createdAt],
    );
    return this.get(
      workspace,
      rows.map((r) => r.subject),
    );
  }

  async rewrite(f: (workspace: string, subject: string, sealed: string) => string | undefined, batch: number): Promise<RewriteReport> {
    const report: RewriteReport = { scanned: 0, rewritten: 0, raced: 0 };
    for (let after = ['', '']; ; ) {
      const r = await this.pool.query<{ workspace: string; subject: string; sealed_key: string }>(
        'SELECT workspace, subject, sealed_key FROM data_keys WHERE (workspace, subject) > ($1, $2) ORDER BY workspace, subject LIMIT $3',
        [after[0], after[1], batch],
      );
      if (r.rows.length === 0) return report;
      report.scanned += r.rows.length;
      for (const row of r.rows) {
        const next = f(row.workspace, row.subject, row.sealed_key);
        if (next === undefined || next === row.sealed_key) continue;
        const u = await this.pool.query('UPDATE data_keys SET sealed_key = $1 WHERE workspace = $2 AND subject = $3 AND sealed_key = $4', [next, row.workspace, row.subject, row.sealed_key]);
        if (u.rowCount === 1) report.rewritten++;
        else report.raced++;
      }
      const last = r.rows[r.rows.length - 1]!;
      after = [last.workspace, last.subject];
    }
  }

  async delete(workspace: string, subjects: readonly string[]): Promise<number> {
    if (subjects.length === 0) return 0;
    const r = await this.pool.query('DELETE FROM data_keys WHERE workspace = $1 AND subject = ANY($2::text[])', [workspace, [...subjects]]);
    return r.rowCount ?? 0;
  }
}

export class PostgresRetention implements RetentionTable {
  constructor(private readonly pool: pg.Pool) {}

  async append(entries: ReadonlyArray<Omit<RetentionLogEntry, 'id'>>): Promise<void> {
    for (const e of entries) {
      await this.pool.query('INSERT INTO retention_log (time, workspace, kind, rule, purged) VALUES ($1, $2, $3, $4, $5)', [e.time, e.workspace, e.kind, e.rule, e.purged]);
    }
  }

  async list(workspace: string, opts: { limit?: number; before?: number } = {}): Promise<RetentionLogEntry[]> {
    const r = await this.pool.query<RetentionLogEntry>(
      `SELECT id, time, workspace, kind, rule, purged FROM retention_log WHERE workspace IN ($1, '*') AND id < $2 ORDER BY id DESC LIMIT $3`,
      [workspace, opts.before ?? Number.MAX_SAFE_INTEGER, opts.limit ?? 100],
    );
    return r.rows;
  }

  async inactiveProfiles(before: number, opts: { workspace?: string; limit: number }): Promise<Array<{ workspace: string; id: string }>> {
    const r = await this.pool.query<{ workspace: string; id: string }>(
      `SELECT workspace, id FROM profiles WHERE ($1::text IS NULL OR workspace = $1) AND doc::json->>'kind' = 'user' AND (doc::json->>'lastSeen')::bigint < $2 ORDER BY workspace, id LIMIT $3`,
      [opts.workspace ?? null, before, opts.limit],
    );
    return r.rows;
  }
}
