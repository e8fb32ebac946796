/**
 * Rewriting sealed values in a SQLite state file, in batches, while the engine
 * may be writing: each row is written back only if it still holds what was
 * read (compare and set), so a concurrent engine write always wins.
 */
import type Database from 'better-sqlite3';
import { rewriteConflictText, rewriteDocText, rewriteEntriesText, type RewriteReport, type SealedRewrite } from '../sealer.ts';

type ConflictRow = { workspace: string; attribute: string; kept: string; rejected: string };

export function rewriteSealedSqlite(db: Database.Database, rewrite: SealedRewrite, batch: number): RewriteReport {
  const report: RewriteReport = { scanned: 0, rewritten: 0, raced: 0 };
  const pass = (
    select: Database.Statement,
    update: Database.Statement,
    change: (row: Record<string, unknown>) => unknown[] | undefined,
  ): void => {
    let after = 0;
    for (;;) {
      const rows = select.all(after, batch) as Array<Record<string, unknown>>;
      if (rows.length === 0) return;
      db.transaction(() => {
        for (const r of rows) {
          report.scanned++;
          const args = change(r);
          if (args === undefined) continue;
          if (update.run(...args).changes === 1) report.rewritten++;
          else report.raced++;
        }
      })();
      after = Number(rows[rows.length - 1]!.k);
    }
  };
  pass(db.prepare('SELECT rowid AS k, workspace, doc FROM profiles WHERE rowid > ? ORDER BY rowid LIMIT ?'), db.prepare('UPDATE profiles SET doc = ? WHERE rowid = ? AND doc = ?'), (r) => {
    const doc = rewriteDocText(r.doc as string, r.workspace as string, rewrite);
    return doc === undefined ? undefined : [doc, r.k, r.doc];
  });
  pass(
    db.prepare('SELECT seq AS k, workspace, entries FROM trait_history WHERE seq > ? ORDER BY seq LIMIT ?'),
    db.prepare('UPDATE trait_history SET entries = ? WHERE seq = ? AND entries = ?'),
    (r) => {
      const entries = rewriteEntriesText(r.entries as string, r.workspace as string, rewrite);
      return entries === undefined ? undefined : [entries, r.k, r.entries];
    },
  );
  pass(
    db.prepare('SELECT seq AS k, workspace, attribute, kept, rejected FROM attribute_conflicts WHERE seq > ? ORDER BY seq LIMIT ?'),
    db.prepare('UPDATE attribute_conflicts SET kept = ?, rejected = ? WHERE seq = ? AND kept = ? AND rejected = ?'),
    (r) => {
      const next = rewriteConflictText(r as ConflictRow, rewrite);
      return next === undefined ? undefined : [...next, r.k, r.kept, r.rejected];
    },
  );
  return report;
}
