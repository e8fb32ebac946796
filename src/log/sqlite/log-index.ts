/**
 * Indexes of the SQLite event log by person and by group, so that a
 * profile's events (its listing, its state as of a time, a consent refold,
 * an unmerge, an erasure) and a group's events are found without a scan of
 * the log.
 *
 * The index trails the log: the appending connection indexes what it
 * appended in batches of up to INDEX_BATCH records (entries sorted by key),
 * not within each append. One random leaf page per event per append would
 * multiply the bytes each durable append writes; a batch writes each touched
 * page once. Queries read the index up to its watermark (`indexed_through`
 * in log_meta, written in the same transaction as the entries) and scan the
 * few records after it, in one statement, so they see one consistent state.
 */
import type Database from 'better-sqlite3';
import { asGroupEvent, groupIdsOf, type LogRecord } from '../../core/event.ts';

export const LOG_INDEX_SCHEMA = `
-- A person's records: person is 'u' + user id, else 'a' + anonymous id (the log's attribution rule).
CREATE TABLE IF NOT EXISTS log_people (
  workspace TEXT NOT NULL,
  person    TEXT NOT NULL,
  position  INTEGER NOT NULL,
  PRIMARY KEY (workspace, person, position)
) WITHOUT ROWID;
-- The groups each record counts for (groupIdsOf).
CREATE TABLE IF NOT EXISTS log_groups (
  workspace TEXT NOT NULL,
  group_id  TEXT NOT NULL,
  position  INTEGER NOT NULL,
  PRIMARY KEY (workspace, group_id, position)
) WITHOUT ROWID;
`;

/** Records indexed at once, at most: a batch starts when this many wait, or when the oldest has waited INDEX_AFTER_MS. */
export const INDEX_BATCH = 20_000;
const INDEX_AFTER_MS = 2_000;

const WATERMARK = `COALESCE((SELECT value FROM log_meta WHERE key = 'indexed_through'), 0)`;

/** Records that may count for a group: what groupIdsOf reads is in these. */
const GROUP_CANDIDATE = `(type IN ('group', 'group_tag') OR instr(body, '"group') > 0)`;

/** The index part and the scanned tail of a person's events (parameters: see `people`). */
const PEOPLE = `
  SELECT l.position, l.body FROM log_people i JOIN log l ON l.position = i.position
   WHERE i.workspace = ? AND i.person IN (SELECT value FROM json_each(?)) AND i.position <= ? AND l.type NOT IN ('unlink', 'erase')
  UNION ALL
  SELECT position, body FROM log
   WHERE position > ${WATERMARK} AND position <= ? AND workspace = ? AND type NOT IN ('unlink', 'erase')
     AND (user_id IN (SELECT value FROM json_each(?)) OR (user_id IS NULL AND anonymous_id IN (SELECT value FROM json_each(?))))
  ORDER BY position`;

/** The index part and the scanned tail of a group's records; the caller keeps those groupIdsOf names the group in. */
const GROUP = `
  SELECT l.position, l.body FROM log_groups g JOIN log l ON l.position = g.position
   WHERE g.workspace = ? AND g.group_id = ? AND g.position <= ?
  UNION ALL
  SELECT position, body FROM log
   WHERE position > ${WATERMARK} AND position <= ? AND workspace = ? AND ${GROUP_CANDIDATE}
  ORDER BY position`;

type Row = { position: number; body: string };

export class LogIndex {
  private readonly peopleStmt: Database.Statement;
  private readonly groupStmt: Database.Statement;
  private readonly batchEnd: Database.Statement;
  private readonly addPeople: Database.Statement;
  private readonly groupCandidates: Database.Statement;
  private readonly addGroup: Database.Statement;
  private readonly setWatermark: Database.Statement;
  private readonly watermarkStmt: Database.Statement;
  private readonly indexTx: (upTo: number) => void;
  /** When the oldest record not indexed was appended (performance.now()), undefined when none waits. */
  private waitingSince: number | undefined;

  constructor(private readonly db: Database.Database) {
    db.exec(LOG_INDEX_SCHEMA);
    this.peopleStmt = db.prepare(PEOPLE);
    this.groupStmt = db.prepare(GROUP);
    // The next batch: the first INDEX_BATCH records after the watermark, their count and last position.
    this.batchEnd = db.prepare(`SELECT COUNT(*) AS n, MAX(position) AS last FROM (SELECT position FROM log WHERE position > ? AND position <= ? ORDER BY position LIMIT ${INDEX_BATCH})`);
    // People in one statement, sorted by key so that each page is written once.
    this.addPeople = db.prepare(
      `INSERT OR IGNORE INTO log_people (workspace, person, position)
       SELECT workspace, CASE WHEN user_id IS NOT NULL THEN 'u' || user_id ELSE 'a' || anonymous_id END AS person, position FROM log
        WHERE position > ? AND position <= ? AND (user_id IS NOT NULL OR anonymous_id IS NOT NULL)
        ORDER BY workspace, person, position`,
    );
    this.groupCandidates = db.prepare(`SELECT position, workspace, body FROM log WHERE position > ? AND position <= ? AND ${GROUP_CANDIDATE}`);
    this.addGroup = db.prepare('INSERT OR IGNORE INTO log_groups (workspace, group_id, position) VALUES (?, ?, ?)');
    this.setWatermark = db.prepare(`INSERT INTO log_meta (key, value) VALUES ('indexed_through', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`);
    this.watermarkStmt = db.prepare(`SELECT ${WATERMARK} AS p`).pluck();
    this.indexTx = db.transaction((upTo: number) => this.indexSome(upTo));
  }

  /** The last position the index covers. */
  watermark(): number {
    return this.watermarkStmt.get() as number;
  }

  /** A person's records up to `upTo`, in position order (the caller parses them). */
  people(workspace: string, userIds: readonly string[], anonymousIds: readonly string[], upTo: number): Row[] {
    const persons = personKeys(userIds, anonymousIds);
    return this.peopleStmt.all(workspace, persons, upTo, upTo, workspace, JSON.stringify(userIds), JSON.stringify(anonymousIds)) as Row[];
  }

  /** The records that may count for a group up to `upTo`, in position order (a superset: the caller checks groupIdsOf). */
  group(workspace: string, groupId: string, upTo: number): Row[] {
    return this.groupStmt.all(workspace, groupId, upTo, upTo, workspace) as Row[];
  }

  /**
   * After an append by this connection: indexes a batch once INDEX_BATCH
   * records wait or the oldest has waited INDEX_AFTER_MS (`now`: performance.now()).
   */
  appended(head: number, now: number): void {
    const waiting = head - this.watermark();
    if (waiting <= 0) {
      this.waitingSince = undefined;
      return;
    }
    this.waitingSince ??= now;
    if (waiting < INDEX_BATCH && now - this.waitingSince < INDEX_AFTER_MS) return;
    this.indexTx(head);
    this.waitingSince = head - this.watermark() > 0 ? now : undefined;
  }

  /** Indexes everything appended up to `head` at once (tests: the appends alone index in batches). */
  catchUp(head: number): void {
    while (this.watermark() < head) this.indexTx(head);
    this.waitingSince = undefined;
  }

  /**
   * Removes the entries of a person's records up to `upTo` (an erasure, before
   * it deletes them): found through the index itself, as records after the
   * watermark have none.
   */
  forgetPeople(workspace: string, userIds: readonly string[], anonymousIds: readonly string[], upTo: number): void {
    const persons = personKeys(userIds, anonymousIds);
    this.db
      .prepare('DELETE FROM log_groups WHERE workspace = ? AND position IN (SELECT position FROM log_people WHERE workspace = ? AND person IN (SELECT value FROM json_each(?)) AND position <= ?)')
      .run(workspace, workspace, persons, upTo);
    this.db.prepare('DELETE FROM log_people WHERE workspace = ? AND person IN (SELECT value FROM json_each(?)) AND position <= ?').run(workspace, persons, upTo);
  }

  /** Removes the entries of the records `where` selects (run before deleting them; `params` bind `where`). */
  forget(where: string, params: readonly unknown[]): void {
    this.db.prepare(`DELETE FROM log_people WHERE position IN (SELECT position FROM log WHERE ${where})`).run(...params);
    this.db.prepare(`DELETE FROM log_groups WHERE position IN (SELECT position FROM log WHERE ${where})`).run(...params);
  }

  /** One batch after the watermark, up to `upTo` (a full batch may stop before it). */
  private indexSome(upTo: number): void {
    const from = this.watermark();
    if (upTo <= from) return;
    const batch = this.batchEnd.get(from, upTo) as { n: number; last: number | null };
    // A short batch reaches upTo: positions deleted since then count as indexed.
    const end = batch.n < INDEX_BATCH || batch.last === null ? upTo : batch.last;
    this.addPeople.run(from, end);
    const groups: Array<[string, string, number]> = [];
    for (const r of this.groupCandidates.iterate(from, end) as Iterable<{ position: number; workspace: string; body: string }>) {
      const e = asGroupEvent(JSON.parse(r.body) as LogRecord);
      if (e !== undefined) for (const g of groupIdsOf(e)) groups.push([r.workspace, g, r.position]);
    }
    for (const [w, g, pos] of groups.sort(byKey)) this.addGroup.run(w, g, pos);
    this.setWatermark.run(end);
  }
}

/** The index's keys of a person's ids, as a JSON array for json_each. */
function personKeys(userIds: readonly string[], anonymousIds: readonly string[]): string {
  return JSON.stringify([...userIds.map((u) => `u${u}`), ...anonymousIds.map((a) => `a${a}`)]);
}

function byKey(a: [string, string, number], b: [string, string, number]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return a[2] - b[2];
}
