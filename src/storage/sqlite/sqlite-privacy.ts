/**
 * Erasure storage on SQLite: the ledger, the suppression list (keyed hashes
 * only), and the engine's erasure transaction that removes a person from
 * every state table at once.
 */
import type Database from 'better-sqlite3';
import type { ErasurePlan, ErasureRow, PrivacyStore } from '../store.ts';
import { ERASED_BY_PROFILE, historyRows, toErasure, type Row } from '../rows.ts';
import { sealDoc, type ValueSealer } from '../sealer.ts';

export const SQLITE_PRIVACY_SCHEMA = `
-- The erasure ledger: no personal data, only what kinds of rows were removed and how many.
CREATE TABLE IF NOT EXISTS erasures (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  workspace    TEXT NOT NULL,
  status       TEXT NOT NULL,
  requested_at INTEGER NOT NULL,
  completed_at INTEGER,
  key_id       TEXT,
  counts       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS erasures_ws ON erasures (workspace, seq);
-- Identifiers of erased people, as HMAC-SHA256 with a per-workspace key: ingest refuses their events.
CREATE TABLE IF NOT EXISTS suppressions (
  workspace  TEXT NOT NULL,
  hash       TEXT NOT NULL,
  erasure_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (workspace, hash)
) WITHOUT ROWID;
`;


const IN = (p: string) => `IN (SELECT value FROM json_each(${p}))`;


export class SqlitePrivacyStore implements PrivacyStore {
  constructor(
    private readonly db: Database.Database,
    /** Seals personal attribute values of the group documents an erasure rewrites, as commits do. */
    private readonly sealer?: ValueSealer,
  ) {}

  async suppressions(): Promise<Array<{ workspace: string; hash: string }>> {
    return this.db.prepare('SELECT workspace, hash FROM suppressions').all() as Array<{ workspace: string; hash: string }>;
  }

  async suppressionCount(): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM suppressions').get() as { n: number }).n;
  }

  async suppressedBy(workspace: string, hashes: readonly string[]): Promise<{ erasureId: string; createdAt: number } | undefined> {
    const row = this.db
      .prepare(`SELECT erasure_id, created_at FROM suppressions WHERE workspace = ? AND hash ${IN('?')} ORDER BY created_at, erasure_id LIMIT 1`)
      .get(workspace, JSON.stringify(hashes)) as { erasure_id: string; created_at: number } | undefined;
    return row === undefined ? undefined : { erasureId: row.erasure_id, createdAt: row.created_at };
  }

  async requestErasure(row: ErasureRow, hashes: readonly string[]): Promise<void> {
    const insert = this.db.prepare('INSERT OR IGNORE INTO suppressions (workspace, hash, erasure_id, created_at) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO erasures (id, workspace, status, requested_at, completed_at, key_id, counts) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(row.id, row.workspace, row.status, row.requestedAt, row.completedAt, row.keyId, JSON.stringify(row.counts));
      for (const h of hashes) insert.run(row.workspace, h, row.id, row.requestedAt);
    }).immediate();
  }

  async erasure(workspace: string, id: string): Promise<ErasureRow | undefined> {
    const r = this.db.prepare('SELECT * FROM erasures WHERE workspace = ? AND id = ?').get(workspace, id) as Row | undefined;
    return r ? toErasure(r) : undefined;
  }

  async erasures(workspace: string, opts: { limit: number; before?: string }): Promise<ErasureRow[]> {
    const rows = this.db
      .prepare(
        `SELECT * FROM erasures WHERE workspace = ?
           AND seq < COALESCE((SELECT seq FROM erasures WHERE workspace = ? AND id = ?), 9223372036854775807)
         ORDER BY seq DESC LIMIT ?`,
      )
      .all(workspace, workspace, opts.before ?? '', opts.limit) as Row[];
    return rows.map(toErasure);
  }

  private hasTable(name: string): boolean {
    return this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
  }

  /** The profile and every profile merged into it (merges are recorded survivor ← absorbed). */
  private profileIds(workspace: string, profileId: string): string[] {
    const ids = new Set<string>([profileId]);
    const from = this.db.prepare(`SELECT from_id FROM merges WHERE workspace = ? AND kind = 'merge' AND into_id = ?`);
    const queue = [profileId];
    while (queue.length > 0) {
      for (const r of from.all(workspace, queue.pop()!) as Array<{ from_id: string }>) {
        if (!ids.has(r.from_id)) {
          ids.add(r.from_id);
          queue.push(r.from_id);
        }
      }
    }
    return [...ids].sort();
  }

  async erase(plan: ErasurePlan): Promise<{ profileIds: string[]; counts: Record<string, number> }> {
    const db = this.db;
    const ws = plan.workspace;
    return db
      .transaction(() => {
        const ids = this.profileIds(ws, plan.profileId);
        const P = JSON.stringify(ids);
        const I = JSON.stringify(plan.identKeys);
        const counts: Record<string, number> = { events: plan.events, eventsRedacted: plan.eventsRedacted };
        const run = (sql: string, ...args: unknown[]) => db.prepare(sql).run(...args).changes;
        counts.profiles = run(`DELETE FROM profiles WHERE workspace = ? AND id ${IN('?')}`, ws, P);
        counts.identities = run(`DELETE FROM identities WHERE workspace = ? AND (profile_id ${IN('?')} OR ident ${IN('?')})`, ws, P, I);
        counts.identityLinks = run(`DELETE FROM identity_links WHERE workspace = ? AND (a ${IN('?')} OR b ${IN('?')})`, ws, I, I);
        counts.blockedLinks = run(`DELETE FROM blocked_links WHERE workspace = ? AND (a ${IN('?')} OR b ${IN('?')})`, ws, I, I);
        const firstSeq = (table: string, where: string, ...args: unknown[]) =>
          (db.prepare(`SELECT MIN(seq) AS s FROM ${table} WHERE workspace = ? AND (${where})`).get(ws, ...args) as { s: number | null }).s;
        const gaps: Array<[string, number | null]> = [
          ['merges', firstSeq('merges', `into_id ${IN('?')} OR from_id ${IN('?')} OR a ${IN('?')} OR b ${IN('?')}`, P, P, I, I)],
          ['identity_conflicts', firstSeq('identity_conflicts', `a ${IN('?')} OR b ${IN('?')} OR profile_a ${IN('?')} OR profile_b ${IN('?')}`, I, I, P, P)],
          ['attribute_conflicts', firstSeq('attribute_conflicts', `profile_id ${IN('?')}`, P)],
        ];
        counts.merges = run(`DELETE FROM merges WHERE workspace = ? AND (into_id ${IN('?')} OR from_id ${IN('?')} OR a ${IN('?')} OR b ${IN('?')})`, ws, P, P, I, I);
        counts.identityConflicts = run(
          `DELETE FROM identity_conflicts WHERE workspace = ? AND (a ${IN('?')} OR b ${IN('?')} OR profile_a ${IN('?')} OR profile_b ${IN('?')})`,
          ws, I, I, P, P,
        );
        // Segments that lose a member get a new size row, as a membership change would write.
        const segments = db.prepare(`SELECT DISTINCT segment FROM segment_members WHERE workspace = ? AND profile_id ${IN('?')}`).all(ws, P) as Array<{ segment: string }>;
        if (this.hasTable('deliveries')) {
          counts.deadLetters = run(`DELETE FROM dead_letters WHERE delivery_id IN (SELECT id FROM deliveries WHERE workspace = ? AND profile_id ${IN('?')})`, ws, P);
          counts.deliveries = run(`DELETE FROM deliveries WHERE workspace = ? AND profile_id ${IN('?')}`, ws, P);
        }
        for (const [table, kind] of ERASED_BY_PROFILE) counts[kind] = run(`DELETE FROM ${table} WHERE workspace = ? AND profile_id ${IN('?')}`, ws, P);
        const size = db.prepare('SELECT COUNT(*) AS n FROM segment_members WHERE workspace = ? AND segment = ?');
        const saveSize = db.prepare('INSERT OR REPLACE INTO segment_sizes (workspace, segment, at, size) VALUES (?, ?, ?, ?)');
        for (const s of segments) saveSize.run(ws, s.segment, plan.sizesAt, (size.get(ws, s.segment) as { n: number }).n);
        for (const [table, from] of gaps) if (from !== null) this.renumber(table, from);
        // Groups the person's calls fed: recomputed without them, or gone when only the person's calls built them.
        const history = db.prepare('INSERT INTO trait_history (workspace, profile_id, first_position, last_position, entries) VALUES (?, ?, ?, ?, ?)');
        counts.groupsRecomputed = 0;
        counts.groupsRemoved = 0;
        for (const g of plan.groups) {
          run('DELETE FROM trait_history WHERE workspace = ? AND profile_id = ?', ws, g.id);
          if (g.doc === null) {
            run('DELETE FROM profiles WHERE workspace = ? AND id = ?', ws, g.id);
            run('DELETE FROM identities WHERE workspace = ? AND ident = ?', ws, g.ident);
            counts.groupsRemoved++;
            continue;
          }
          run('UPDATE profiles SET doc = ? WHERE workspace = ? AND id = ?', JSON.stringify(sealDoc(this.sealer, g.doc)), ws, g.id);
          for (const h of historyRows(g.history, this.sealer)) history.run(h.workspace, h.profileId, h.firstPosition, h.lastPosition, h.entries);
          counts.groupsRecomputed++;
        }
        let quarantine = 0;
        const del = db.prepare('DELETE FROM quarantine WHERE id = ?');
        for (const r of db.prepare('SELECT id, raw FROM quarantine WHERE workspace = ?').all(ws) as Array<{ id: number; raw: string }>) {
          if (plan.quarantineMatches(r.raw)) quarantine += del.run(r.id).changes;
        }
        counts.quarantine = quarantine;
        // No models exist yet: nothing holds training rows.
        counts.modelTrainingRows = 0;
        db.prepare('INSERT INTO engine_position (partition, position) VALUES (?, ?) ON CONFLICT(partition) DO UPDATE SET position = excluded.position').run(plan.partition, plan.position);
        // A rebuild replays the erase record again: the ledger keeps the counts of the first time.
        db.prepare(`UPDATE erasures SET status = 'completed', completed_at = ?, counts = ? WHERE workspace = ? AND id = ? AND status = 'pending'`).run(
          plan.completedAt,
          JSON.stringify(counts),
          ws,
          plan.erasureId,
        );
        return { profileIds: ids, counts };
      })
      .immediate();
  }

  /**
   * Closes the gaps deleted rows left in a table's sequence from `from` on,
   * keeping the order: a rebuild numbers the rows it writes 1, 2, 3 …, and
   * its state must equal this one. Two passes through negative values, so no
   * step collides with a sequence number still in use.
   */
  private renumber(table: string, from: number): void {
    const base = (this.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE seq < ?`).get(from) as { n: number }).n;
    this.db.exec(`DROP TABLE IF EXISTS temp.renumber`);
    this.db.prepare(`CREATE TEMP TABLE renumber AS SELECT seq AS old, ? + ROW_NUMBER() OVER (ORDER BY seq) AS new FROM ${table} WHERE seq >= ?`).run(base, from);
    this.db.exec(`UPDATE ${table} SET seq = -(SELECT new FROM temp.renumber WHERE old = ${table}.seq) WHERE seq IN (SELECT old FROM temp.renumber)`);
    this.db.exec(`UPDATE ${table} SET seq = -seq WHERE seq < 0`);
    this.db.exec(`DROP TABLE temp.renumber`);
  }

  async compact(): Promise<void> {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }
}
