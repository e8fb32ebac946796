/**
 * The profile search language: checking a query (every problem with its
 * path), the cursor, and the pure functions that decide whether a profile
 * matches. Values are read the way the profile view shows them, computed
 * traits evaluated at the given "now". The result order is in search-order.ts.
 */
import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import { Errors, type Problem } from '../core/errors.ts';
import type { Json } from '../core/event.ts';
import { canonicalJson, type ProfileDoc } from '../core/profile.ts';
import { traitValue, type TraitRuntime } from '../profile/index.ts';
import type { AttributePrefilter } from '../storage/index.ts';
import { compareStrings, type SortEntry } from './search-order.ts';
import { SEARCH_DEFAULT_LIMIT, SearchRequest, type SearchOp } from './search-schema.ts';

const checkShape = new Ajv({ allErrors: true, strict: false }).compile(SearchRequest);

const PROFILE_FIELDS = ['id', 'eventCount', 'firstSeen', 'lastSeen'] as const;
type ProfileField = (typeof PROFILE_FIELDS)[number];

/** A field a condition or the sort reads. */
export type FieldRef =
  | { ns: 'attributes'; name: string }
  /** Membership (true / false); `members` is filled by the search before it scans. */
  | { ns: 'segments'; name: string; members: Set<string> }
  /** Whether the purpose is granted now (no decision: false). */
  | { ns: 'consents'; name: string }
  /** A declared score's value (absent until one arrives). */
  | { ns: 'scores'; name: string }
  | { ns: 'traits'; name: string; trait: TraitRuntime }
  | { ns: 'profile'; name: ProfileField };

export interface Condition {
  field: FieldRef;
  op: SearchOp;
  value: Json | undefined;
}

export interface CompiledSearch {
  where: Condition[];
  sort: { field: FieldRef; desc: boolean };
  limit: number;
  offset: number;
  /** The position after which this page starts (from the cursor). */
  after?: SortEntry;
  /** Identifies the query (conditions and sort): a cursor only continues the query it came from. */
  fingerprint: string;
}

function shapeProblems(): Problem[] {
  return (checkShape.errors ?? []).map((e) => {
    const params = e.params as { additionalProperty?: string; allowedValues?: unknown[] };
    if (e.keyword === 'additionalProperties') return { path: `${e.instancePath}/${String(params.additionalProperty)}`, message: 'is not a known part of a search' };
    if (e.keyword === 'enum') return { path: e.instancePath, message: `must be one of: ${(params.allowedValues ?? []).join(', ')}` };
    return { path: e.instancePath || '/', message: e.message ?? 'is invalid' };
  });
}

/** The segments a search may name (undefined: this backend keeps no segments). */
export type KnownSegments = ReadonlySet<string> | undefined;

function parseField(
  field: string,
  path: string,
  traits: ReadonlyMap<string, TraitRuntime>,
  segments: KnownSegments,
  purposes: readonly string[],
  scores: readonly string[],
  problems: Problem[],
): FieldRef | undefined {
  const dot = field.indexOf('.');
  const ns = dot < 0 ? field : field.slice(0, dot);
  const name = dot < 0 ? '' : field.slice(dot + 1);
  if ((PROFILE_FIELDS as readonly string[]).includes(field)) return { ns: 'profile', name: field as ProfileField };
  if (ns === 'attributes' && name !== '') return { ns: 'attributes', name };
  if (ns === 'traits' && name !== '') {
    const trait = traits.get(name);
    if (trait) return { ns: 'traits', name, trait };
    const known = [...traits.keys()];
    problems.push({ path, message: `no computed trait is named "${name}" (${known.length > 0 ? `defined: ${known.join(', ')}` : 'none is defined'})` });
    return undefined;
  }
  if (ns === 'segments' && name !== '') {
    if (segments === undefined) {
      problems.push({ path, message: `"${field}": this deployment evaluates no segments (partition engines on PostgreSQL + NATS do not yet)` });
      return undefined;
    }
    if (segments.has(name)) return { ns: 'segments', name, members: new Set() };
    problems.push({ path, message: `no segment is named "${name}" (${segments.size > 0 ? `defined: ${[...segments].join(', ')}` : 'none is defined'})` });
    return undefined;
  }
  if (ns === 'consents' && name !== '') {
    if (purposes.includes(name)) return { ns: 'consents', name };
    problems.push({ path, message: `no purpose is named "${name}" (configured: ${purposes.join(', ') || 'none'})` });
    return undefined;
  }
  if (ns === 'scores' && name !== '') {
    if (scores.includes(name)) return { ns: 'scores', name };
    problems.push({ path, message: `no score is named "${name}" (${scores.length > 0 ? `declared: ${scores.join(', ')}` : 'none is declared'})` });
    return undefined;
  }
  problems.push({ path, message: `"${field}" is not a searchable field; use attributes.<name>, traits.<name>, segments.<name>, consents.<purpose>, scores.<name>, ${PROFILE_FIELDS.join(', ')}` });
  return undefined;
}

function checkValue(op: SearchOp, value: unknown, path: string, problems: Problem[]): void {
  switch (op) {
    case 'eq':
    case 'ne':
      if (value === undefined) problems.push({ path, message: `${op} needs a value` });
      return;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      if (typeof value !== 'number' && typeof value !== 'string') problems.push({ path, message: `${op} compares with a number or a string, not ${describe(value)}` });
      return;
    case 'in':
      if (!Array.isArray(value) || value.length === 0 || value.length > 1000) problems.push({ path, message: `in needs a list of 1 to 1000 values, not ${describe(value)}` });
      return;
    case 'exists':
      if (value !== undefined && typeof value !== 'boolean') problems.push({ path, message: `exists takes true or false, not ${describe(value)}` });
      return;
    case 'contains':
      if (value === undefined || value === null) problems.push({ path, message: 'contains needs the element or substring to look for' });
      return;
    default: {
      const never: never = op;
      return never;
    }
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  return v === null ? 'null' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);
}

/**
 * Checks a search query against the trait definitions in force and compiles
 * it; throws PORTRAIT_SEARCH_INVALID listing every problem with its path.
 */
export function compileSearch(raw: unknown, traits: readonly TraitRuntime[], segments?: KnownSegments, purposes: readonly string[] = [], scores: readonly string[] = []): CompiledSearch {
  const input = raw ?? {};
  if (!checkShape(input)) throw Errors.invalidSearch(shapeProblems());
  const q = input as SearchRequest;
  const byName = new Map(traits.map((t) => [t.name, t]));
  const problems: Problem[] = [];
  const where: Condition[] = [];
  (q.where ?? []).forEach((c, i) => {
    const field = parseField(c.field, `/where/${i}/field`, byName, segments, purposes, scores, problems);
    checkValue(c.op, c.value, `/where/${i}/value`, problems);
    if (field) where.push({ field, op: c.op, value: c.value as Json | undefined });
  });
  const sortField = q.sort ? parseField(q.sort.field, '/sort/field', byName, segments, purposes, scores, problems) : { ns: 'profile' as const, name: 'id' as const };
  if (q.cursor !== undefined && q.offset !== undefined) problems.push({ path: '/offset', message: 'use either a cursor or an offset, not both' });
  const fingerprint = createHash('sha256')
    .update(canonicalJson({ where: q.where ?? [], sort: q.sort ? { field: q.sort.field, order: q.sort.order ?? 'asc' } : null }))
    .digest('base64url')
    .slice(0, 16);
  const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, fingerprint, problems);
  if (problems.length > 0 || sortField === undefined) throw Errors.invalidSearch(problems);
  return { where, sort: { field: sortField, desc: q.sort?.order === 'desc' }, limit: q.limit ?? SEARCH_DEFAULT_LIMIT, offset: q.offset ?? 0, after, fingerprint };
}

/** The cursor after `entry`: opaque to clients, tied to the query's fingerprint. */
export function encodeCursor(entry: SortEntry, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ f: fingerprint, k: entry.key ?? null, id: entry.id })).toString('base64url');
}

function decodeCursor(cursor: string, fingerprint: string, problems: Problem[]): SortEntry | undefined {
  let parsed: { f?: unknown; k?: Json; id?: unknown } | undefined;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || typeof parsed.id !== 'string' || typeof parsed.f !== 'string') {
    problems.push({ path: '/cursor', message: 'is not a cursor this API gave out; pass the `next` value of the previous page unchanged' });
    return undefined;
  }
  if (parsed.f !== fingerprint) {
    problems.push({ path: '/cursor', message: 'belongs to a different query (its conditions or sort changed); start again without a cursor' });
    return undefined;
  }
  return { key: parsed.k ?? undefined, id: parsed.id };
}

/** The value of a field on a profile, as the profile view shows it at `now`; undefined when absent. */
export function fieldValue(doc: ProfileDoc, f: FieldRef, now: number): Json | undefined {
  switch (f.ns) {
    case 'attributes':
      return doc.attributes[f.name]?.v;
    case 'traits':
      return traitValue(doc, f.trait, now);
    case 'segments':
      return f.members.has(doc.id);
    case 'consents':
      return doc.consents?.[f.name]?.granted === true;
    case 'scores':
      return doc.scores?.[f.name]?.v;
    case 'profile':
      switch (f.name) {
        case 'id':
          return doc.id;
        case 'eventCount':
          return doc.eventCount;
        case 'firstSeen':
          return doc.eventCount > 0 ? new Date(doc.firstSeen).toISOString() : null;
        case 'lastSeen':
          return doc.eventCount > 0 ? new Date(doc.lastSeen).toISOString() : null;
      }
  }
}


/** Absent and null are both "no value". */
const hasValue = (v: Json | undefined): v is Json => v !== undefined && v !== null;

/** Equality of JSON values; "no value" (absent or null) equals only itself. */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (!hasValue(a) || !hasValue(b)) return !hasValue(a) && !hasValue(b);
  if (typeof a !== 'object' || typeof b !== 'object') return a === b;
  return canonicalJson(a) === canonicalJson(b);
}

/** Order of two values for gt/gte/lt/lte: numbers with numbers, strings with strings, else not comparable. */
function compareScalars(a: Json | undefined, b: Json | undefined): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return compareStrings(a, b);
  return undefined;
}

/** Whether a value satisfies one condition. */
export function satisfies(v: Json | undefined, op: SearchOp, value: Json | undefined): boolean {
  switch (op) {
    case 'eq':
      return jsonEqual(v, value);
    case 'ne':
      return !jsonEqual(v, value);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const c = compareScalars(v, value);
      if (c === undefined) return false;
      return op === 'gt' ? c > 0 : op === 'gte' ? c >= 0 : op === 'lt' ? c < 0 : c <= 0;
    }
    case 'in':
      return Array.isArray(value) && value.some((x) => jsonEqual(v, x));
    case 'exists':
      return hasValue(v) === (value ?? true);
    case 'contains':
      if (Array.isArray(v)) return v.some((x) => jsonEqual(x, value));
      return typeof v === 'string' && typeof value === 'string' && v.includes(value);
    default: {
      const never: never = op;
      return never;
    }
  }
}

/** Whether a profile satisfies every condition of a search at `now`. */
export function matches(doc: ProfileDoc, where: readonly Condition[], now: number): boolean {
  for (const c of where) if (!satisfies(fieldValue(doc, c.field, now), c.op, c.value)) return false;
  return true;
}

/** Attribute conditions a store may use to narrow its scan (the conditions are re-checked on every profile). */
export function prefiltersOf(where: readonly Condition[]): AttributePrefilter[] {
  const out: AttributePrefilter[] = [];
  for (const c of where) {
    if (c.field.ns !== 'attributes') continue;
    const attribute = c.field.name;
    if (c.op === 'exists' && c.value !== false) out.push({ attribute, op: 'exists' });
    else if ((c.op === 'eq' || c.op === 'gt' || c.op === 'gte' || c.op === 'lt' || c.op === 'lte') && (typeof c.value === 'string' || typeof c.value === 'number'))
      out.push({ attribute, op: c.op, value: c.value });
    else if (c.op === 'in' && Array.isArray(c.value)) out.push({ attribute, op: 'in', value: c.value });
  }
  return out;
}
