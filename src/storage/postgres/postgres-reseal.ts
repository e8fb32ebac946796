/**
 * Rewriting sealed values in the PostgreSQL state, in batches, while workers
 * may be writing: each row is written back only if it still holds what was
 * read (compare and set), so a concurrent engine write always wins.
 */
import type pg from 'pg';
import { rewriteConflictText, rewriteDocText, rewriteEntriesText, type RewriteReport, type SealedRewrite } from '../sealer.ts';
import { withTransaction } from './transaction.ts';

type Row = Record<string, unknown>;
type ConflictRow = { workspace: string; attribute: string; kept: string; rejected: string };

export async function rewriteSealedPostgres(pool: pg.Pool, rewrite: SealedRewrite, batch: number): Promise<RewriteReport> {
  const report: RewriteReport = { scanned: 0, rewritten: 0, raced: 0 };
  const pass = async (select: string, update: string, change: (row: Row) => unknown[] | undefined, key: (r: Row) => unknown[], start: unknown[]): Promise<void> => {
    let after = start;
    for (;;) {
      const rows = (await pool.query<Row>(select, [...after, batch])).rows;
      if (rows.length === 0) return;
      await withTransaction(pool, async (client) => {
        for (const r of rows) {
          report.scanned++;
          const args = change(r);
          if (args === undefined) continue;
          if ((await client.query(update, args)).rowCount === 1) report.rewritten++;
          else report.raced++;
        }
      });
      after = key(rows[rows.length - 1]!);
    }
  };
  await pass(
    'SELECT workspace, id, doc FROM profiles WHERE (workspace, id) > ($1, $2) ORDER BY workspace, id LIMIT $3',
    'UPDATE profiles SET doc = $1 WHERE workspace = $2 AND id = $3 AND doc = $4',
    (r) => {
      const doc = rewriteDocText(r.doc as string, r.workspace as string, rewrite);
      return doc === undefined ? undefined : [doc, r.workspace, r.id, r.doc];
    },
    (r) => [r.workspace, r.id],
    ['', ''],
  );
  await pass(
    'SELECT seq, workspace, entries FROM trait_history WHERE seq > $1 ORDER BY seq LIMIT $2',
    'UPDATE trait_history SET entries = $1 WHERE seq = $2 AND entries = $3',
    (r) => {
      const entries = rewriteEntriesText(r.entries as string, r.workspace as string, rewrite);
      return entries === undefined ? undefined : [entries, r.seq, r.entries];
    },
    (r) => [r.seq],
    [0],
  );
  await pass(
    'SELECT seq, workspace, attribute, kept, rejected FROM attribute_conflicts WHERE seq > $1 ORDER BY seq LIMIT $2',
    'UPDATE attribute_conflicts SET kept = $1, rejected = $2 WHERE seq = $3 AND kept = $4 AND rejected = $5',
    (r) => {
      const next = rewriteConflictText(r as ConflictRow, rewrite);
      return next === undefined ? undefined : [...next, r.seq, r.kept, r.rejected];
    },
    (r) => [r.seq],
    [0],
  );
  return report;
}
