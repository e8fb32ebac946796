/**
 * Checks of the data directory and the embedded SQLite files: exists and
 * writable, free space, each file opens, passes `PRAGMA quick_check`, has
 * the schema this build expects; the engine's lag; the default workspace's
 * keys. Files are opened read-only: the doctor never changes them.
 */
import { existsSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { inspectLogDb } from '../log/index.ts';
import { dataKeyFileOf, inspectStateDb } from '../storage/index.ts';
import { fail, ok, reason, warn, type CheckResult } from './check.ts';

const MiB = 1024 * 1024;
/** Below this much free space Portrait soon cannot append: fail. Below the warning level: warn. */
export const DISK_FAIL_BYTES = 100 * MiB;
export const DISK_WARN_BYTES = 1024 * MiB;

function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

/** The data directory: present (or creatable) and writable. */
export function checkDataDir(dataDir: string): CheckResult {
  const dir = resolve(dataDir);
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    return fail('data dir', `${dir} exists but is not a directory`, 'Point dataDir (--data-dir, PORTRAIT_DATA_DIR) at a directory, or move the file away.');
  }
  const present = existsSync(dir);
  // Write a probe file: permission bits alone do not say (root, read-only mounts).
  const target = present ? dir : nearestExisting(dir);
  const probe = join(target, `.portrait-doctor-${process.pid}`);
  try {
    writeFileSync(probe, 'probe');
    rmSync(probe, { force: true });
  } catch (e) {
    return fail('data dir', `${present ? dir : `${target} (where ${dir} would be created)`} is not writable: ${reason(e)}`, `Give the user running Portrait write access to ${target}, or choose another dataDir.`);
  }
  if (!present) return warn('data dir', `${dir} does not exist yet`, 'It is created on first start (portrait serve); nothing to do unless you expected data there.');
  return ok('data dir', `${dir} exists and is writable`);
}

/** Free space where the data directory lives. */
export function checkDisk(dataDir: string): CheckResult {
  const at = nearestExisting(dataDir);
  const s = statfsSync(at);
  const free = s.bavail * s.bsize;
  const text = `${(free / MiB).toFixed(0)} MiB free on the disk holding ${at}`;
  if (free < DISK_FAIL_BYTES) return fail('disk space', text, 'Free some disk space or move dataDir to a larger disk: appends fail when the disk is full.');
  if (free < DISK_WARN_BYTES) return warn('disk space', text, 'Free some disk space soon, or move dataDir to a larger disk.');
  return ok('disk space', text);
}

/** Opens a SQLite file read-only and runs PRAGMA quick_check; returns the open database when it is sound. */
function openChecked(file: string, name: string, fix: string, out: CheckResult[]): Database.Database | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const rows = db.pragma('quick_check') as Array<{ quick_check: string }>;
    const problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
    if (problems.length > 0) {
      out.push(fail(name, `${file} fails the integrity check: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}`, fix));
      db.close();
      return undefined;
    }
    return db;
  } catch (e) {
    db?.close();
    out.push(fail(name, `${file} cannot be read as a SQLite database: ${reason(e)}`, fix));
    return undefined;
  }
}

const LOG_FIX = 'The log is the source of truth: stop Portrait and restore log.db from a backup (then run "portrait rebuild").';
const STATE_FIX = 'State can be rebuilt from the log: stop Portrait, move state.db (and state.db-wal, state.db-shm) away, then run "portrait rebuild".';
const KEYS_FIX = 'The data keys open the personal fields stored in the log and cannot be rebuilt: stop Portrait and restore state.keys.db (with its -wal file) from a backup.';

/** The data-key file beside state.db (their keys live there since they have a file of their own). */
function checkDataKeys(dataDir: string, state: Database.Database, out: CheckResult[]): void {
  const file = dataKeyFileOf(join(resolve(dataDir), 'state.db'));
  const inState = state.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'data_keys'`).get() !== undefined;
  if (!existsSync(file)) {
    // A state file from before keeps its keys itself until the next start moves them.
    if (inState) out.push(ok('state.keys.db', 'not created yet: the data keys are still in state.db and move at the next start'));
    else out.push(fail('state.keys.db', `${file} is missing: events with personal fields can no longer be opened`, KEYS_FIX));
    return;
  }
  const keys = openChecked(file, 'state.keys.db', KEYS_FIX, out);
  if (!keys) return;
  try {
    const { n } = keys.prepare('SELECT COUNT(*) AS n FROM data_keys').get() as { n: number };
    out.push(ok('state.keys.db', `opens, passes quick_check, ${n} data key(s)`));
  } catch (e) {
    out.push(fail('state.keys.db', `${file} is not a Portrait data-key file: ${reason(e)}`, KEYS_FIX));
  } finally {
    keys.close();
  }
}

/** The two SQLite files, their schema, the engine's lag and the default workspace's keys. */
export function checkDatabases(dataDir: string, workspace: string): CheckResult[] {
  const out: CheckResult[] = [];
  const logFile = join(resolve(dataDir), 'log.db');
  const stateFile = join(resolve(dataDir), 'state.db');
  if (!existsSync(logFile) && !existsSync(stateFile)) {
    out.push(warn('databases', `no log.db or state.db in ${resolve(dataDir)} yet`, 'They are created on first start: run "portrait serve" (or point --data-dir at your data).'));
    return out;
  }
  let head: number | undefined;
  const log = existsSync(logFile) ? openChecked(logFile, 'log.db', LOG_FIX, out) : undefined;
  if (!existsSync(logFile)) out.push(fail('log.db', `${logFile} is missing while state.db exists`, LOG_FIX));
  if (log) {
    try {
      head = inspectLogDb(log).head;
      out.push(ok('log.db', `opens, passes quick_check, ${head} records appended`));
    } catch (e) {
      out.push(fail('log.db', `${logFile} is not a Portrait event log: ${reason(e)}`, LOG_FIX));
    } finally {
      log.close();
    }
  }
  if (!existsSync(stateFile)) {
    out.push(warn('state.db', `${stateFile} is missing`, 'It is recreated and rebuilt from the log: run "portrait rebuild" (or start Portrait).'));
    return out;
  }
  const state = openChecked(stateFile, 'state.db', STATE_FIX, out);
  if (!state) return out;
  try {
    const facts = inspectStateDb(state, workspace);
    if (facts.schemaVersion === null) out.push(fail('schema', 'state.db records no schema version', STATE_FIX));
    else if (facts.schemaVersion > facts.expectedSchemaVersion)
      out.push(fail('schema', `state.db has schema version ${facts.schemaVersion}, newer than this Portrait's ${facts.expectedSchemaVersion}`, 'Upgrade Portrait to the version that wrote this data.'));
    else if (facts.schemaVersion < facts.expectedSchemaVersion)
      out.push(warn('schema', `state.db has schema version ${facts.schemaVersion}; this Portrait writes ${facts.expectedSchemaVersion}`, 'Run "portrait rebuild" to recreate the state with the current schema.'));
    else out.push(ok('state.db', `opens, passes quick_check, schema version ${facts.schemaVersion}`));
    checkDataKeys(dataDir, state, out);
    if (head !== undefined) out.push(engineLag(head, facts.position));
    out.push(
      facts.activeKeys > 0
        ? ok('api keys', `${facts.activeKeys} active key(s) for workspace "${workspace}"`)
        : warn('api keys', `no active API key for workspace "${workspace}"`, `Run "portrait keys create --workspace ${workspace} --scopes write,read,admin" (or start "portrait serve", which creates development keys when there are none).`),
    );
  } catch (e) {
    out.push(fail('state.db', `${stateFile} is not a Portrait state file: ${reason(e)}`, STATE_FIX));
  } finally {
    state.close();
  }
  return out;
}

/** A backlog this large is worth a look (the server's own backpressure bound defaults to 200,000). */
const LAG_WARN = 10_000;

/** The engine's position against the log's: how many records wait to be processed. */
export function engineLag(head: number, position: number): CheckResult {
  if (position > head) {
    return fail('engine lag', `the state is at log position ${position}, beyond the log's last record ${head}: the log was replaced or truncated`, 'Restore the matching log.db, or run "portrait rebuild" to recompute the state from this log.');
  }
  const lag = head - position;
  if (lag === 0) return ok('engine lag', `the state is up to date with the log (position ${head})`);
  if (lag <= LAG_WARN) return ok('engine lag', `${lag} log records wait for the engine (normal while events arrive)`);
  return warn('engine lag', `${lag} log records are not yet processed (state at ${position}, log at ${head})`, 'The engine catches up while Portrait runs; if it is running and the number does not fall, check its logs.');
}
