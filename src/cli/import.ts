/**
 * `portrait import <file>`: bulk-load Segment messages from NDJSON or CSV.
 *
 * Streams the file line by line and ingests in batches, awaiting each (memory
 * stays constant). Lines that cannot be imported — unparseable JSON, CSV rows
 * with the wrong number of columns, messages quarantined by ingest — are
 * written to a rejects file as NDJSON `{line, reason, raw}`; quarantined ones
 * are also in Portrait's quarantine.
 *
 * Re-running an import is harmless: a message without a messageId gets
 * `imp-` + the first 32 hex characters of sha256(raw line text), so the log's
 * deduplication drops it the second time. Consequently identical lines (in one
 * file or across files) are treated as one event; give such messages their own
 * messageId to import them all.
 */
import { createHash } from 'node:crypto';
import { createReadStream, closeSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { SingleBar, Presets } from 'cli-progress';
import { Option, type Command } from 'commander';
import { PortraitError, type Problem } from '../core/errors.ts';
import type { IngestResult } from '../portrait/portrait.ts';
import { isCompleteRecord, parseCsvRecord, parseMappings, rowToMessage, type ColumnMapping } from './csv-mapping.ts';
import { openFromCli } from './open.ts';

export interface ImportOptions {
  format?: 'ndjson' | 'csv';
  map: string[];
  type: string;
  batch: string;
  rejects?: string;
  progress: boolean;
  workspace?: string;
}

/** Longest CSV record (in characters) allowed to span lines before it is rejected as unterminated. */
const MAX_RECORD_CHARS = 1 << 20;

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function importCommand(program: Command): void {
  program
    .command('import')
    .description('import Segment messages from an NDJSON or CSV file (re-running the same import has no effect)')
    .argument('<file>', 'NDJSON (.ndjson, .jsonl, .json: one message per line) or CSV (.csv) file')
    .addOption(new Option('--format <format>', 'file format (default: from the extension; csv for .csv, otherwise ndjson)').choices(['ndjson', 'csv']))
    .option('--map <column=path>', 'CSV: map a column to a message field, e.g. price=properties.price (repeatable; default: each column to the field of its name)', collect, [])
    .option('--type <type>', 'CSV: message type when no column maps to "type"', 'track')
    .option('--batch <n>', 'messages per ingest batch', '1000')
    .option('--rejects <path>', 'where to write rejected lines as NDJSON (default: <file>.rejects.ndjson)')
    .option('--no-progress', 'do not draw a progress bar')
    .option('-w, --workspace <name>', 'workspace to import into (default: the configured default workspace)')
    .action(async (file: string, opts: ImportOptions, cmd: Command) => {
      await runImport(file, opts, cmd);
    });
}

function fileError(file: string, detail: string): PortraitError {
  return new PortraitError('PORTRAIT_IMPORT_FILE', `Cannot read the import file ${file} (${detail}). Check the path and its permissions.`, 400);
}

function usageError(message: string): PortraitError {
  return new PortraitError('PORTRAIT_IMPORT_OPTIONS', `${message}.`, 400);
}

/** Gives a message without a messageId one derived from its raw line, so re-imports deduplicate. */
function withDeterministicId(message: unknown, raw: string): unknown {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return message;
  const m = message as Record<string, unknown>;
  if (m.messageId !== undefined && m.messageId !== null && m.messageId !== '') return message;
  return { ...m, messageId: `imp-${createHash('sha256').update(raw).digest('hex').slice(0, 32)}` };
}

const describeProblems = (problems: readonly Problem[]) => problems.map((p) => `${p.path || '/'}: ${p.message}`).join('; ');

async function runImport(file: string, opts: ImportOptions, cmd: Command): Promise<void> {
  const batchSize = Number(opts.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw usageError(`--batch must be a positive integer, not "${opts.batch}"`);
  const format = opts.format ?? (extname(file).toLowerCase() === '.csv' ? 'csv' : 'ndjson');

  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw fileError(file, 'not a regular file');
    size = st.size;
  } catch (e) {
    if (e instanceof PortraitError) throw e;
    throw fileError(file, (e as NodeJS.ErrnoException).code ?? String(e));
  }
  const input = createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', (e: NodeJS.ErrnoException) => reject(fileError(file, e.code ?? e.message)));
  });
  let readError: PortraitError | undefined;
  input.on('error', (e: NodeJS.ErrnoException) => {
    readError = fileError(file, e.code ?? e.message);
  });

  const rejectsPath = opts.rejects ?? `${file}.rejects.ndjson`;
  let rejectsFd: number;
  try {
    rejectsFd = openSync(rejectsPath, 'w');
  } catch (e) {
    input.destroy();
    throw usageError(`Cannot write the rejects file ${rejectsPath} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }

  const p = await openFromCli(cmd).catch((e: unknown) => {
    input.destroy();
    closeSync(rejectsFd);
    throw e;
  });
  const started = Date.now();
  // rejected: lines refused before ingest; quarantined ones are counted by ingest. Both go to the rejects file.
  const totals = { accepted: 0, duplicates: 0, quarantined: 0, rejected: 0 };
  let rejectsWritten = 0;
  const writeReject = (line: number, reason: string, raw: string) => {
    rejectsWritten++;
    writeSync(rejectsFd, JSON.stringify({ line, reason, raw }) + '\n');
  };
  const reject = (line: number, reason: string, raw: string) => {
    totals.rejected++;
    writeReject(line, reason, raw);
  };

  const showBar = opts.progress && process.stderr.isTTY === true;
  const bar = new SingleBar(
    { format: 'import [{bar}] {percentage}% | {events} events | {eps} events/s | ETA {eta}s', hideCursor: true, stream: process.stderr },
    Presets.shades_classic,
  );
  if (showBar) bar.start(Math.max(1, size), 0, { events: 0, eps: 0 });
  const tick = () => {
    if (!showBar) return;
    const events = totals.accepted + totals.duplicates + totals.quarantined;
    bar.update(Math.min(size, input.bytesRead), { events, eps: Math.round(events / Math.max(0.001, (Date.now() - started) / 1000)) });
  };

  // The pending batch: messages with the line they came from and its raw text.
  let messages: unknown[] = [];
  let sources: Array<{ line: number; raw: string }> = [];
  const flush = async () => {
    if (messages.length === 0) return;
    const r: IngestResult = await p.ingest(messages, opts.workspace ? { workspace: opts.workspace } : {});
    totals.accepted += r.accepted;
    totals.duplicates += r.duplicates;
    totals.quarantined += r.quarantined;
    r.outcomes.forEach((o, i) => {
      if (o.status === 'quarantined') writeReject(sources[i]!.line, `quarantined (#${o.quarantineId}): ${describeProblems(o.problems)}`, sources[i]!.raw);
    });
    messages = [];
    sources = [];
    tick();
  };
  const add = async (message: unknown, line: number, raw: string) => {
    messages.push(withDeterministicId(message, raw));
    sources.push({ line, raw });
    if (messages.length >= batchSize) await flush();
  };

  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    if (format === 'ndjson') {
      for await (const text of lines) {
        lineNo++;
        const raw = lineNo === 1 ? stripBom(text) : text;
        if (raw.trim() === '') continue;
        let message: unknown;
        try {
          message = JSON.parse(raw);
        } catch (e) {
          reject(lineNo, `invalid JSON: ${(e as Error).message}`, raw);
          continue;
        }
        await add(message, lineNo, raw);
      }
    } else {
      let header: string[] | undefined;
      let mappings: ColumnMapping[] = [];
      let pending: string | undefined;
      let pendingLine = 0;
      for await (const text of lines) {
        lineNo++;
        const chunk = lineNo === 1 ? stripBom(text) : text;
        if (pending === undefined) {
          if (chunk.trim() === '') continue;
          pending = chunk;
          pendingLine = lineNo;
        } else pending += '\n' + chunk;
        if (!isCompleteRecord(pending)) {
          if (pending.length > MAX_RECORD_CHARS) {
            reject(pendingLine, `unterminated quoted field (record longer than ${MAX_RECORD_CHARS} characters)`, pending);
            pending = undefined;
          }
          continue;
        }
        const raw = pending;
        pending = undefined;
        const parsed = parseCsvRecord(raw);
        if (header === undefined) {
          if (!parsed.ok) throw usageError(`The CSV header (line ${pendingLine}) is malformed: ${parsed.reason}`);
          header = parsed.fields;
          try {
            mappings = parseMappings(opts.map, header);
          } catch (e) {
            throw usageError((e as Error).message);
          }
          continue;
        }
        if (!parsed.ok) {
          reject(pendingLine, `malformed CSV: ${parsed.reason}`, raw);
          continue;
        }
        if (parsed.fields.length !== header.length) {
          reject(pendingLine, `expected ${header.length} columns, found ${parsed.fields.length}`, raw);
          continue;
        }
        await add(rowToMessage(header, parsed.fields, mappings, opts.type), pendingLine, raw);
      }
      if (pending !== undefined) reject(pendingLine, 'unterminated quoted field at end of file', pending);
    }
    if (readError) throw readError;
    await flush();
  } catch (e) {
    if (readError) throw readError;
    throw e;
  } finally {
    lines.close();
    input.destroy();
    if (showBar) {
      tick();
      bar.stop();
    }
    closeSync(rejectsFd);
    if (rejectsWritten === 0) {
      try {
        unlinkSync(rejectsPath);
      } catch {
        // Already gone: nothing to clean.
      }
    }
    await p.close();
  }

  const seconds = (Date.now() - started) / 1000;
  const events = totals.accepted + totals.duplicates + totals.quarantined;
  const eps = Math.round(events / Math.max(0.001, seconds));
  if (rejectsWritten > 0) process.stderr.write(`${rejectsWritten} rejected or quarantined lines written to ${rejectsPath}\n`);
  process.stdout.write(
    `imported ${totals.accepted} accepted, ${totals.duplicates} duplicates, ${totals.quarantined} quarantined, ${totals.rejected} rejected lines in ${seconds.toFixed(1)} s (${eps} events/s)\n`,
  );
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}
