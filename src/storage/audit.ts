/**
 * What the audit trail needs from a store: append records in batches and read
 * them back, newest first, filtered. A record holds no personal data: the
 * route is a pattern (`/v1/profiles/:idType/:id`), never the URL.
 */
/** The workspace of instance-wide actions (key rotation): shown to every workspace's admins. */
export const ALL_WORKSPACES = '*';

export interface AuditRecord {
  /** Epoch ms of the answer. */
  at: number;
  /** The key's workspace; ALL_WORKSPACES for an instance-wide action; null when no valid key was sent. */
  workspace: string | null;
  keyId: string | null;
  /** The scope the route asked for (read, pii, admin, privacy). */
  scope: string;
  method: string;
  route: string;
  status: number;
  requestId: string;
}

export interface AuditQuery {
  workspace: string;
  from?: number;
  to?: number;
  keyId?: string;
  route?: string;
  /** Paging: only records with seq below this (the `next` of the previous page). */
  before?: number;
  limit: number;
}

export interface AuditStore {
  appendAudit(records: readonly AuditRecord[]): Promise<void>;
  /** Newest first. */
  auditRecords(q: AuditQuery): Promise<Array<AuditRecord & { seq: number }>>;
}

export const AUDIT_SQLITE = `
CREATE TABLE IF NOT EXISTS audit_log (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  at         INTEGER NOT NULL,
  workspace  TEXT,
  key_id     TEXT,
  scope      TEXT NOT NULL,
  method     TEXT NOT NULL,
  route      TEXT NOT NULL,
  status     INTEGER NOT NULL,
  request_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_ws ON audit_log (workspace, seq);
`;

export const AUDIT_POSTGRES = `
CREATE TABLE audit_log (
  seq        BIGSERIAL PRIMARY KEY,
  at         BIGINT NOT NULL,
  workspace  TEXT COLLATE "C",
  key_id     TEXT COLLATE "C",
  scope      TEXT COLLATE "C" NOT NULL,
  method     TEXT COLLATE "C" NOT NULL,
  route      TEXT COLLATE "C" NOT NULL,
  status     INTEGER NOT NULL,
  request_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX audit_log_ws ON audit_log (workspace, seq);
`;

/** The WHERE clause and parameters of a query; `ph(i)` writes the i-th placeholder (`?` or `$i`). */
export function auditWhere(q: AuditQuery, ph: (i: number) => string): { sql: string; params: Array<string | number> } {
  const parts: string[] = [];
  const params: Array<string | number> = [];
  const add = (cond: (p: string) => string, v: string | number) => {
    params.push(v);
    parts.push(cond(ph(params.length)));
  };
  add((p) => `workspace IN (${p}, '${ALL_WORKSPACES}')`, q.workspace);
  if (q.from !== undefined) add((p) => `at >= ${p}`, q.from);
  if (q.to !== undefined) add((p) => `at <= ${p}`, q.to);
  if (q.keyId !== undefined) add((p) => `key_id = ${p}`, q.keyId);
  if (q.route !== undefined) add((p) => `route = ${p}`, q.route);
  if (q.before !== undefined) add((p) => `seq < ${p}`, q.before);
  return { sql: parts.join(' AND '), params };
}

export function toAuditRecord(r: Record<string, unknown>): AuditRecord & { seq: number } {
  return {
    seq: Number(r.seq),
    at: Number(r.at),
    workspace: (r.workspace as string | null) ?? null,
    keyId: (r.key_id as string | null) ?? null,
    scope: r.scope as string,
    method: r.method as string,
    route: r.route as string,
    status: Number(r.status),
    requestId: r.request_id as string,
  };
}
