/** Appending audit records on SQLite: one transaction per batch (the store's connection, or the state writer thread's). */
import type Database from 'better-sqlite3';
import type { AuditRecord } from '../audit.ts';

export function insertAudit(db: Database.Database, records: readonly AuditRecord[]): void {
  const ins = db.prepare('INSERT INTO audit_log (at, workspace, key_id, scope, method, route, status, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const r of records) ins.run(r.at, r.workspace, r.keyId, r.scope, r.method, r.route, r.status, r.requestId);
  })();
}
