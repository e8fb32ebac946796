/**
 * The writes to the state file that request handling makes (audit records,
 * quarantined messages): one place for their SQL, run on the store's own
 * connection or on the state writer thread's.
 */
import type Database from 'better-sqlite3';
import type { AuditRecord } from '../audit.ts';
import type { NewQuarantineRow } from '../store.ts';

export function insertAudit(db: Database.Database, records: readonly AuditRecord[]): void {
  const ins = db.prepare('INSERT INTO audit_log (at, workspace, key_id, scope, method, route, status, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const r of records) ins.run(r.at, r.workspace, r.keyId, r.scope, r.method, r.route, r.status, r.requestId);
  })();
}

/** Stores one quarantined message; returns its id. */
export function insertQuarantine(db: Database.Database, row: NewQuarantineRow): number {
  const r = db
    .prepare('INSERT INTO quarantine (workspace, received_at, raw, reason, digest) VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace, digest) DO NOTHING')
    .run(row.workspace, row.receivedAt, row.raw, JSON.stringify(row.reason), row.digest ?? null);
  if (r.changes > 0) return Number(r.lastInsertRowid);
  // Only a row with this digest stops the insert (a null digest never conflicts).
  return (db.prepare('SELECT id FROM quarantine WHERE workspace = ? AND digest = ?').get(row.workspace, row.digest) as { id: number }).id;
}
