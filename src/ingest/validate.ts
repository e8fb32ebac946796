/**
 * Validates a raw Segment-spec message (unknown JSON) and normalises it into a
 * `PortraitEvent`: ids as strings, times as skew-corrected epoch ms, a
 * generated messageId when the client sent none. Every problem is listed.
 */
import { randomUUID } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Clock } from '../core/clock.ts';
import type { Problem } from '../core/errors.ts';
import { EVENT_TYPES, type JsonObject, type PortraitEvent } from '../core/event.ts';
import { readScores, scoreProblemsAt, type ScoreSpecs } from '../core/scores.ts';
import { addAjvProblems, addProblem, hasProblem, sortProblems } from './problems.ts';
import {
  AliasMessage,
  AnyMessage,
  BatchEnvelope,
  GroupMessage,
  IdentifyMessage,
  PageMessage,
  ScreenMessage,
  TIME_DESCRIPTION,
  TrackMessage,
} from './schema.ts';
import { parseTime } from './time.ts';

export interface ParseOptions {
  /** The workspace (tenant) the message belongs to. */
  workspace: string;
  /** Supplies the arrival time when `receivedAt` is not given. */
  clock: Clock;
  /** Makes a messageId for a message without one; `crypto.randomUUID` by default. */
  newId?: () => string;
  /** Arrival time (ms); `clock.now()` by default. A client-sent receivedAt is ignored. */
  receivedAt?: number;
  /** The `sentAt` of the batch the message came in, used when the message has none. */
  batchSentAt?: unknown;
  /** The declared scores: `context.scores` may carry only these, as finite numbers in range (absent: none). */
  scores?: ScoreSpecs;
}

export type BatchOptions = Omit<ParseOptions, 'batchSentAt'>;

export type ParseResult = { ok: true; event: PortraitEvent } | { ok: false; problems: Problem[] };

/**
 * A batch whose envelope is malformed (not an object, no `batch` array, a bad
 * shared `sentAt` or `context`) is rejected whole; otherwise each message has
 * its own result, in order, with problem paths relative to that message.
 */
export type BatchResult = { ok: true; results: ParseResult[] } | { ok: false; problems: Problem[] };

// Compiled once, at module load. `verbose` puts the failing schema on each error,
// which is where problem messages come from; it costs nothing for valid messages.
// unicode: false makes maxLength count UTF-16 code units, the length the rest of the code (and storage)
// sees; Ajv 8 marks the option deprecated, and that one notice is all the logger drops.
const ajvLogger = {
  log: console.log,
  warn: (...args: unknown[]) => (String(args[0]).startsWith('DEPRECATED: option unicode') ? undefined : console.warn(...args)),
  error: console.error,
};
const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, unicode: false, logger: ajvLogger });
const validators = {
  track: ajv.compile(TrackMessage),
  identify: ajv.compile(IdentifyMessage),
  alias: ajv.compile(AliasMessage),
  group: ajv.compile(GroupMessage),
  page: ajv.compile(PageMessage),
  screen: ajv.compile(ScreenMessage),
};
const validateAnyMessage = ajv.compile(AnyMessage);
const validateEnvelope = ajv.compile(BatchEnvelope);

const TYPE_LIST = EVENT_TYPES.join(', ');
const NO_SCORES: ScoreSpecs = new Map();
const TIME_EXPECTED = `must be ${TIME_DESCRIPTION}`;

/** Validates one Segment message and normalises it into a PortraitEvent, or lists every problem. */
export function parseMessage(raw: unknown, opts: ParseOptions): ParseResult {
  const receivedAt = opts.receivedAt ?? opts.clock.now();
  const batchSentAt = opts.batchSentAt === undefined || opts.batchSentAt === null ? undefined : (parseTime(opts.batchSentAt) ?? null);
  return parse(raw, opts, receivedAt, batchSentAt, undefined);
}

/** Validates a `/v1/batch` body and parses each of its messages, in order. */
export function parseBatch(raw: unknown, opts: BatchOptions): BatchResult {
  if (!isObject(raw)) {
    return { ok: false, problems: [{ path: '', message: 'must be an object with a "batch" array of messages' }] };
  }
  const problems: Problem[] = [];
  if (!validateEnvelope(raw)) addAjvProblems(problems, validateEnvelope.errors);
  const sentAt = optionalTime(raw.sentAt);
  if (sentAt === null) addProblem(problems, '/sentAt', TIME_EXPECTED);
  if (problems.length > 0 || sentAt === null) return { ok: false, problems: sortProblems(problems) };

  const envelope = raw as BatchEnvelope;
  const receivedAt = opts.receivedAt ?? opts.clock.now();
  const context = envelope.context as JsonObject | undefined;
  const results: ParseResult[] = new Array(envelope.batch.length);
  for (let i = 0; i < envelope.batch.length; i++) {
    results[i] = parse(envelope.batch[i], opts, receivedAt, sentAt, context);
  }
  return { ok: true, results };
}

/**
 * The work behind both entry points. The valid path runs one compiled
 * validator and reads each field once; problems are built only on failure.
 */
function parse(
  raw: unknown,
  opts: BatchOptions,
  receivedAt: number,
  batchSentAt: number | undefined | null,
  batchContext: JsonObject | undefined,
): ParseResult {
  if (!isObject(raw)) {
    const what = raw === null || raw === undefined ? String(raw) : Array.isArray(raw) ? 'an array' : `a ${typeof raw}`;
    return { ok: false, problems: [{ path: '', message: `must be an object (a Segment message), not ${what}` }] };
  }
  const type = raw.type;
  let problems: Problem[] | undefined;
  let validate: ValidateFunction;
  switch (type) {
    case 'track':
    case 'identify':
    case 'alias':
    case 'group':
    case 'page':
    case 'screen':
      validate = validators[type];
      break;
    default:
      problems = [
        type === undefined
          ? { path: '/type', message: `required: one of ${TYPE_LIST}` }
          : { path: '/type', message: `must be one of ${TYPE_LIST}` },
      ];
      // Still check the common fields, so that every problem is listed at once.
      validate = validateAnyMessage;
  }
  if (!validate(raw)) addAjvProblems((problems ??= []), validate.errors);

  const userId = toId(raw.userId);
  const anonymousId = toId(raw.anonymousId);
  if (userId === undefined && anonymousId === undefined) {
    problems ??= [];
    if (!hasProblem(problems, '/userId') && !hasProblem(problems, '/anonymousId')) {
      problems.push({ path: '/userId', message: 'required: one of userId or anonymousId (a non-empty string or a number)' });
    }
  }

  // Scores as the event will carry them: the message's own context wins over the batch's, field by field.
  const scores = isObject(raw.context) && Object.hasOwn(raw.context, 'scores') ? raw.context.scores : batchContext?.scores;
  if (scores !== undefined) {
    const found = readScores(scores, opts.scores ?? NO_SCORES).problems;
    if (found.length > 0) (problems ??= []).push(...scoreProblemsAt(found));
  }

  // A time of the wrong JSON type already has a problem from the schema; this catches bad strings and ranges.
  const timestamp = optionalTime(raw.timestamp);
  const originalTimestamp = optionalTime(raw.originalTimestamp);
  const ownSentAt = optionalTime(raw.sentAt);
  if (timestamp === null || originalTimestamp === null || ownSentAt === null || batchSentAt === null) {
    problems ??= [];
    if (timestamp === null) addProblem(problems, '/timestamp', TIME_EXPECTED);
    if (originalTimestamp === null) addProblem(problems, '/originalTimestamp', TIME_EXPECTED);
    if (ownSentAt === null) addProblem(problems, '/sentAt', TIME_EXPECTED);
    if (batchSentAt === null) addProblem(problems, '/sentAt', `the batch's sentAt ${TIME_EXPECTED}`);
    return { ok: false, problems: sortProblems(problems) };
  }
  if (problems !== undefined) return { ok: false, problems: sortProblems(problems) };

  const sentAt = ownSentAt ?? batchSentAt;

  // From here the message is valid: the schema for its type has passed.
  // The client's own clock reading: originalTimestamp when given, else timestamp.
  const clientTime = originalTimestamp ?? timestamp;
  const event: PortraitEvent = {
    type: type as PortraitEvent['type'],
    workspace: opts.workspace,
    messageId: typeof raw.messageId === 'string' && raw.messageId !== '' ? raw.messageId : (opts.newId ?? randomUUID)(),
    // Segment's skew correction: the client's clock is off by (sentAt − receivedAt), give or take transit.
    timestamp:
      clientTime === undefined ? receivedAt : sentAt === undefined ? clientTime : receivedAt - (sentAt - clientTime),
    receivedAt,
  };
  if (userId !== undefined) event.userId = userId;
  if (anonymousId !== undefined) event.anonymousId = anonymousId;
  if (clientTime !== undefined) event.originalTimestamp = clientTime;
  if (sentAt !== undefined) event.sentAt = sentAt;
  switch (event.type) {
    case 'track':
      event.event = raw.event as string;
      break;
    case 'alias':
      event.previousId = String(raw.previousId);
      break;
    case 'group':
      event.groupId = String(raw.groupId);
      break;
    case 'page':
    case 'screen':
      if (typeof raw.name === 'string') event.name = raw.name;
      break;
    case 'identify':
      break;
    default: {
      const unreachable: never = event.type;
      throw new TypeError(`unhandled message type ${String(unreachable)}`);
    }
  }
  // Objects are shared with the raw message, not copied: the caller must not mutate it afterwards.
  if (raw.properties !== undefined) event.properties = raw.properties as JsonObject;
  if (raw.traits !== undefined) event.traits = raw.traits as JsonObject;
  const context = raw.context as JsonObject | undefined;
  if (batchContext !== undefined) {
    // Segment merges the batch's context under each message's: the message's own fields win.
    event.context = context === undefined ? batchContext : mergeContext(batchContext, context);
  } else if (context !== undefined) {
    event.context = context;
  }
  return { ok: true, event };
}

/**
 * `{ ...under, ...over }`, but Object.assign is some 25× faster than a double
 * spread in V8. Assign *sets* keys, so a JSON `"__proto__"` key would replace
 * the result's prototype instead of being copied: such objects take the spread.
 */
function mergeContext(under: JsonObject, over: JsonObject): JsonObject {
  if (Object.hasOwn(under, '__proto__') || Object.hasOwn(over, '__proto__')) return { ...under, ...over };
  return Object.assign({}, under, over);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An identifier as a string; absent when missing, null, the empty string or of the wrong type. */
function toId(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A time field in ms: `undefined` when absent (or null), `null` when present but not a valid time. */
function optionalTime(v: unknown): number | undefined | null {
  if (v === undefined || v === null) return undefined;
  return parseTime(v) ?? null;
}
