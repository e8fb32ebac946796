/**
 * Evaluating conditions over one profile at a time `now`: whether it holds,
 * why (an explanation tree with each input's value), and the next instant at
 * which the passing of time alone could change the answer.
 */
import type { Json } from '../core/event.ts';
import type { ProfileDoc } from '../core/profile.ts';
import { consentGranted, type TraitRuntime } from '../profile/index.ts';
import { bucketMs, parseDuration } from '../traits/index.ts';
import { durationMs, type Condition, type Literal } from './ast.ts';
import { printCondition } from './print.ts';
import { memoByText } from '../core/memo.ts';

/** A trait as segments see it: its runtime and the definition fields time depends on. */
export interface SegmentTrait {
  runtime: TraitRuntime;
  kind: string;
  window?: unknown;
  bucket?: 'hour' | 'day';
}

/**
 * How often a profile is re-checked when its condition tests a continuously
 * changing value that is not a number (a whole decayed map or RFM object):
 * no crossing instant can be computed for it. Comparisons of the numbers
 * themselves (<, <=, >, >=, =, !=, in, not in) get their exact instants
 * instead (see `crossing` and `equalityChange`).
 */
export const CONTINUOUS_RECHECK_MS = 3_600_000;

/**
 * How far ahead an exact crossing is searched: ten years. A value that has
 * not crossed by then (a decayed score is 2^-40 of itself after 40 half-lives,
 * under the 6-decimal rounding, for any half-life up to three months) never does.
 */
export const CROSSING_HORIZON_MS = 10 * 365 * 86_400_000;

/**
 * A reference split at its dots, kept: references come from definitions, so
 * there are few, and they are read for every profile an event changes.
 */
const PARTS = new Map<string, readonly string[]>();
function refParts(ref: string): readonly string[] {
  let p = PARTS.get(ref);
  if (p === undefined) {
    p = ref.split('.');
    if (PARTS.size < 100_000) PARTS.set(ref, p);
  }
  return p;
}

/**
 * What a condition reads of the other definitions: their memberships at
 * `now` and their next time-driven changes. An object with methods, not four
 * closures: the TypeScript loader names every closure it sees created
 * (`Object.defineProperty`, about a microsecond each), and a reader is made
 * for every profile an event changes.
 */
export interface OtherDefinitions {
  /** Membership of another segment at `now` (evaluated before this one). */
  segment(name: string): boolean;
  /** The next time-driven change of another segment's condition. */
  segmentNext(name: string): number;
  /** The tags the profile holds at `now` that a tag covers (itself and those below it), sorted. */
  tagged(tag: string): string[];
  /** The next time-driven change of any rule-driven tag a tag covers. */
  tagNext(tag: string): number;
}

/** Reads a profile's inputs at `now`, caching trait values. */
export class ProfileReader {
  private readonly values = new Map<string, Json | undefined>();
  constructor(
    readonly doc: ProfileDoc,
    readonly now: number,
    private readonly traits: ReadonlyMap<string, SegmentTrait>,
    private readonly others: OtherDefinitions,
  ) {}

  segment(name: string): boolean {
    return this.others.segment(name);
  }

  segmentNext(name: string): number {
    return this.others.segmentNext(name);
  }

  tagged(tag: string): string[] {
    return this.others.tagged(tag);
  }

  tagNext(tag: string): number {
    return this.others.tagNext(tag);
  }

  private traitValue(name: string): Json | undefined {
    if (this.values.has(name)) return this.values.get(name);
    const t = this.traits.get(name);
    let v: Json | undefined;
    if (t !== undefined) {
      const st = this.doc.traits[name];
      v = t.runtime.aggregator.value(st !== undefined && st.h === t.runtime.hash ? st.s : t.runtime.aggregator.init(), this.now) as Json;
    }
    this.values.set(name, v);
    return v;
  }

  /** The value of a reference, or undefined when the profile has none. */
  read(ref: string): Json | undefined {
    const d = this.doc;
    if (ref === 'last_seen') return d.eventCount > 0 ? d.lastSeen : undefined;
    if (ref === 'first_seen') return d.eventCount > 0 ? d.firstSeen : undefined;
    if (ref === 'event_count') return d.eventCount;
    // No decision reads as not granted.
    if (ref.startsWith('consent.')) return consentGranted(d, ref.slice(8));
    if (ref.startsWith('score.')) return d.scores?.[ref.slice(6)]?.v;
    const parts = refParts(ref);
    let v: Json | undefined = parts[0] === 'traits' ? this.traitValue(parts[1]!) : d.attributes[parts[1]!]?.v;
    for (let i = 2; i < parts.length && v !== undefined; i++) {
      v = v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, parts[i]!) ? v[parts[i]!] : undefined;
    }
    return v;
  }

  /**
   * The value of a reference at another instant (uncached): what the profile,
   * receiving no new event, would read then.
   */
  readAt(ref: string, at: number): Json | undefined {
    return new ProfileReader(this.doc, at, this.traits, this.others).read(ref);
  }

  /**
   * True when a reference's value moves monotonically with time alone: every
   * key of a decayed score (all of a key's contributions share one half-life,
   * so it decays towards 0 without changing sign) and RFM recency (grows).
   */
  continuous(ref: string): boolean {
    const parts = refParts(ref);
    if (parts[0] !== 'traits') return false;
    const t = this.traits.get(parts[1]!);
    const st = this.doc.traits[parts[1]!];
    if (t === undefined || st === undefined || st.h !== t.runtime.hash) return false;
    if (t.kind === 'decayed') return true;
    return t.kind === 'rfm' && (parts.length === 2 || parts[2] === 'recencyDays');
  }

  /** The next instant after now at which a reference's value may change with time alone (Infinity: never; continuous values excepted, see `continuous`). */
  nextChange(ref: string): number {
    if (!ref.startsWith('traits.')) return Infinity;
    const name = refParts(ref)[1]!;
    const t = this.traits.get(name);
    if (t === undefined) return Infinity;
    if (t.kind === 'window_count' || t.kind === 'window_sum') {
      const st = this.doc.traits[name];
      if (st === undefined || st.h !== t.runtime.hash) return Infinity;
      return windowNextChange(st.s as { b: Array<[number, unknown]> }, parseDuration(t.window) ?? 0, bucketMs(t.bucket), this.now);
    }
    return this.continuous(ref) ? this.now + CONTINUOUS_RECHECK_MS : Infinity;
  }
}

function holdsAt(c: { op: 'gt' | 'gte' | 'lt' | 'lte'; ref: string; value: Literal }, r: ProfileReader, t: number): boolean {
  return ordered(r.readAt(c.ref, t), c.value, c.op);
}

/**
 * The first instant after now at which an ordered comparison of a continuous
 * value changes its answer, found by bisection to the millisecond. The value
 * moves monotonically, so the answer changes at most once; Infinity when it
 * has not changed by the horizon.
 */
export function crossing(c: { op: 'gt' | 'gte' | 'lt' | 'lte'; ref: string; value: Literal }, r: ProfileReader): number {
  const initial = ordered(r.read(c.ref), c.value, c.op);
  let lo = r.now;
  let hi = r.now + CROSSING_HORIZON_MS;
  if (holdsAt(c, r, hi) === initial) return Infinity;
  // Invariant: the answer at lo is the initial one, at hi it differs.
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (holdsAt(c, r, mid) === initial) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * A window trait's value at `now` sums the buckets k with
 * ⌊(now − window) ÷ bucket⌋ ≤ k ≤ ⌊now ÷ bucket⌋: bucket k leaves at
 * (k + 1)·bucket + window and a future bucket enters at k·bucket. The
 * earliest of those after now is when the value next changes.
 */
export function windowNextChange(s: { b: Array<[number, unknown]> }, window: number, bucket: number, now: number): number {
  let next = Infinity;
  for (const [k] of s.b) {
    const enter = k * bucket;
    const leave = (k + 1) * bucket + window;
    if (enter > now && enter < next) next = enter;
    if (leave > now && leave < next) next = leave;
  }
  return next;
}

/** The epoch ms of a condition's ISO time, read once per text. */
const instant = memoByText((time: string) => Date.parse(time));

function asTime(v: Json | undefined): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : undefined;
  }
  return undefined;
}

function equal(v: Json | undefined, lit: Literal): boolean {
  return v !== undefined && v === lit;
}

function ordered(v: Json | undefined, lit: Literal, op: 'gt' | 'gte' | 'lt' | 'lte'): boolean {
  if (!((typeof v === 'number' && typeof lit === 'number') || (typeof v === 'string' && typeof lit === 'string'))) return false;
  switch (op) {
    case 'gt':
      return v > lit;
    case 'gte':
      return v >= lit;
    case 'lt':
      return v < lit;
    default:
      return v <= lit;
  }
}

/** One node of an explanation: the condition as text, whether it held, and the input's value. */
export interface Explanation {
  condition: string;
  held: boolean;
  ref?: string;
  /** The input's value at evaluation time (absent when the profile has none). */
  value?: Json;
  /** For time tests: when the answer changes with time alone, ISO 8601. */
  changesAt?: string;
  children?: Explanation[];
}

/** Whether a leaf (a test of one reference) holds; the semantics every other function shares. */
function leaf(c: Exclude<Condition, { op: 'and' | 'or' | 'not' | 'in_segment' | 'has_tag' }>, v: Json | undefined, now: number): boolean {
  switch (c.op) {
    case 'eq':
      return equal(v, c.value);
    case 'neq':
      // A missing input is neither equal nor unequal: every test of it is false.
      return v !== undefined && v !== c.value;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return ordered(v, c.value, c.op);
    // includes is === here: a JSON value is never NaN.
    case 'in':
      return v !== undefined && c.values.includes(v as Literal);
    case 'not_in':
      return v !== undefined && !c.values.includes(v as Literal);
    case 'contains':
      // A top-k trait's list holds { key, count }: it contains a key.
      if (Array.isArray(v)) {
        for (const x of v) if (x === c.value || (x !== null && typeof x === 'object' && !Array.isArray(x) && x.key === c.value)) return true;
        return false;
      }
      return typeof v === 'string' && typeof c.value === 'string' && v.includes(c.value);
    case 'exists':
      return v !== undefined && v !== null;
    case 'within': {
      const t = asTime(v);
      return t !== undefined && now < t + durationMs(c.duration);
    }
    case 'older_than': {
      const t = asTime(v);
      return t !== undefined && now >= t + durationMs(c.duration);
    }
    case 'before': {
      const t = asTime(v);
      return t !== undefined && t < instant(c.time);
    }
    case 'after': {
      const t = asTime(v);
      return t !== undefined && t > instant(c.time);
    }
    default: {
      const never: never = c;
      throw new Error(`unknown condition ${JSON.stringify(never)}`);
    }
  }
}

/** Whether the condition holds for the profile at the reader's time. */
export function evaluate(c: Condition, r: ProfileReader): boolean {
  switch (c.op) {
    // Loops rather than every / some: no closure per evaluation on this hot path.
    case 'and':
      for (const a of c.args) if (!evaluate(a, r)) return false;
      return true;
    case 'or':
      for (const a of c.args) if (evaluate(a, r)) return true;
      return false;
    case 'not':
      return !evaluate(c.arg, r);
    case 'in_segment':
      return r.segment(c.segment);
    case 'has_tag':
      return r.tagged(c.tag).length > 0;
    default:
      return leaf(c, r.read(c.ref), r.now);
  }
}

/**
 * The earliest instant after now at which the condition's value could change
 * with no new event: exact for within / older than, for window traits, and for
 * comparisons and equality tests of decayed scores and RFM recency; a bounded
 * re-check for tests of those values that are not numbers. Infinity when never.
 */
export function nextChange(c: Condition, r: ProfileReader): number {
  switch (c.op) {
    case 'and':
    case 'or': {
      let m = Infinity;
      for (const a of c.args) m = Math.min(m, nextChange(a, r));
      return m;
    }
    case 'not':
      return nextChange(c.arg, r);
    case 'in_segment':
      return r.segmentNext(c.segment);
    case 'has_tag':
      return r.tagNext(c.tag);
    case 'within':
    case 'older_than': {
      const t = asTime(r.read(c.ref));
      const at = t === undefined ? Infinity : t + durationMs(c.duration);
      return Math.min(at > r.now ? at : Infinity, r.nextChange(c.ref));
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return r.continuous(c.ref) ? crossing({ op: c.op, ref: c.ref, value: c.value }, r) : r.nextChange(c.ref);
    case 'eq':
    case 'neq':
      return r.continuous(c.ref) ? equalityChange(c.ref, [c.value], r) : r.nextChange(c.ref);
    case 'in':
    case 'not_in':
      return r.continuous(c.ref) ? equalityChange(c.ref, c.values, r) : r.nextChange(c.ref);
    default:
      return r.nextChange(c.ref);
  }
}

/**
 * When an equality test (=, !=, in, not in) of a continuous value against
 * these literals next changes its answer. The value moves monotonically, so
 * `v = x` is `v >= x and v <= x`, and each of those two ordered tests changes
 * at most once, at its exact crossing: the equality can change only at one of
 * those instants (a value that steps over x without ever equalling it changes
 * nothing there, and is evaluated there all the same). A value that is not a
 * number is re-checked periodically (`CONTINUOUS_RECHECK_MS`).
 */
function equalityChange(ref: string, values: readonly Literal[], r: ProfileReader): number {
  if (typeof r.read(ref) !== 'number') return r.nextChange(ref);
  let m = Infinity;
  for (const value of values) {
    // A number never equals a string, a boolean or null, whatever the time.
    if (typeof value !== 'number') continue;
    m = Math.min(m, crossing({ op: 'gte', ref, value }, r), crossing({ op: 'lte', ref, value }, r));
  }
  return m;
}

/** The condition tree with each input's value and whether each part held. */
export function explain(c: Condition, r: ProfileReader): Explanation {
  switch (c.op) {
    case 'and':
    case 'or': {
      const children = c.args.map((a) => explain(a, r));
      const held = c.op === 'and' ? children.every((x) => x.held) : children.some((x) => x.held);
      return { condition: printCondition(c), held, children };
    }
    case 'not': {
      const inner = explain(c.arg, r);
      return { condition: printCondition(c), held: !inner.held, children: [inner] };
    }
    case 'in_segment':
      return { condition: printCondition(c), held: r.segment(c.segment) };
    case 'has_tag': {
      // The value lists the tags held that the test covers: why it held.
      const held = r.tagged(c.tag);
      const out: Explanation = { condition: printCondition(c), held: held.length > 0, value: held };
      const next = r.tagNext(c.tag);
      if (Number.isFinite(next)) out.changesAt = new Date(next).toISOString();
      return out;
    }
    default: {
      const v = r.read(c.ref);
      const out: Explanation = { condition: printCondition(c), held: leaf(c, v, r.now), ref: c.ref };
      if (v !== undefined) out.value = (c.ref === 'last_seen' || c.ref === 'first_seen') && typeof v === 'number' ? new Date(v).toISOString() : v;
      const next = nextChange(c, r);
      if (Number.isFinite(next)) out.changesAt = new Date(next).toISOString();
      return out;
    }
  }
}
