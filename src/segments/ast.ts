/**
 * The condition language's JSON form: the tree every other form (text,
 * explanation) maps onto. A TypeBox schema so the type derives from it and
 * JSON from the API is validated against the same shape.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { TAG_NAME_PATTERN } from '../core/profile.ts';
import { memoByText } from '../core/memo.ts';

export const COMPARE_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte'] as const;
export type CompareOp = (typeof COMPARE_OPS)[number];

/**
 * A reference to one input of a profile: `last_seen`, `first_seen`,
 * `event_count`, `consent.<purpose>` (granted: true or false), `score.<name>`
 * (a declared score: a number), `traits.<name>[.<key>…]`
 * or `attributes.<name>[.<key>…]`.
 */
export const REF_PATTERN = '^(last_seen|first_seen|event_count|consent\\.[a-z][a-z0-9_]*|score\\.[a-z][a-z0-9_]*|traits\\.[a-z][a-z0-9_]*(\\.[A-Za-z0-9_$]+)*|attributes\\.[A-Za-z_$][A-Za-z0-9_$]*(\\.[A-Za-z0-9_$]+)*)$';
export const DURATION_PATTERN = '^[0-9]{1,9}[smhdw]$';
export const SEGMENT_NAME_PATTERN = '^[a-z][a-z0-9_]{0,63}$';
export { TAG_NAME_PATTERN };

const Ref = Type.String({ pattern: REF_PATTERN, description: 'last_seen, first_seen, event_count, consent.<purpose>, score.<name>, traits.<name>[.<key>] or attributes.<name>[.<key>]' });
const Literal = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);
const Duration = Type.String({ pattern: DURATION_PATTERN, description: 'a whole number and a unit: s, m, h, d or w (e.g. "7d")' });
const Time = Type.String({ format: 'date-time', description: 'an ISO 8601 time, e.g. "2026-01-01T00:00:00.000Z"' });

const op = <T extends string>(v: T) => Type.Literal(v);
const opOf = <T extends readonly string[]>(vs: T) => Type.Unsafe<T[number]>({ type: 'string', enum: [...vs] });

export const ConditionSchema = Type.Recursive(
  (Self: TSchema) =>
    Type.Union([
      Type.Object({ op: opOf(['and', 'or'] as const), args: Type.Array(Self, { minItems: 2 }) }, { additionalProperties: false }),
      Type.Object({ op: op('not'), arg: Self }, { additionalProperties: false }),
      Type.Object({ op: opOf(COMPARE_OPS), ref: Ref, value: Literal }, { additionalProperties: false }),
      Type.Object({ op: opOf(['in', 'not_in'] as const), ref: Ref, values: Type.Array(Literal, { minItems: 1 }) }, { additionalProperties: false }),
      Type.Object({ op: op('contains'), ref: Ref, value: Literal }, { additionalProperties: false }),
      Type.Object({ op: op('exists'), ref: Ref }, { additionalProperties: false }),
      Type.Object({ op: opOf(['within', 'older_than'] as const), ref: Ref, duration: Duration }, { additionalProperties: false }),
      Type.Object({ op: opOf(['before', 'after'] as const), ref: Ref, time: Time }, { additionalProperties: false }),
      Type.Object({ op: op('in_segment'), segment: Type.String({ pattern: SEGMENT_NAME_PATTERN }) }, { additionalProperties: false }),
      Type.Object({ op: op('has_tag'), tag: Type.String({ pattern: TAG_NAME_PATTERN }) }, { additionalProperties: false }),
    ]),
  { $id: 'Condition' },
);

export type Literal = string | number | boolean | null;

/**
 * A condition in its JSON form. Written by hand because the schema is
 * recursive; the round-trip property test checks every printed form against
 * the schema.
 */
export type Condition =
  | { op: 'and' | 'or'; args: Condition[] }
  | { op: 'not'; arg: Condition }
  | { op: CompareOp; ref: string; value: Literal }
  | { op: 'in' | 'not_in'; ref: string; values: Literal[] }
  | { op: 'contains'; ref: string; value: Literal }
  | { op: 'exists'; ref: string }
  | { op: 'within' | 'older_than'; ref: string; duration: string }
  | { op: 'before' | 'after'; ref: string; time: string }
  | { op: 'in_segment'; segment: string }
  /** Holds when the profile carries the tag or any tag below it (`interest/sports` covers `interest/sports/football`). */
  | { op: 'has_tag'; tag: string };

/** Whether tag `name` is `tag` itself or a tag below it in the taxonomy. */
export function tagCovers(tag: string, name: string): boolean {
  return name === tag || (name.length > tag.length && name.startsWith(tag) && name[tag.length] === '/');
}

/**
 * Why a tag test or filter cannot name `tag`: no defined tag is it or below it
 * (`interest` names the branch above `interest/sports`). Undefined when it can.
 */
export function unknownTagMessage(tag: string, defined: Iterable<string>): string | undefined {
  const tags = [...defined];
  if (tags.some((t) => tagCovers(tag, t))) return undefined;
  return `unknown tag "${tag}": no tag of that name or below it is defined${tags.length > 0 ? ` (defined: ${tags.sort().join(', ')})` : ''}`;
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** Milliseconds of a duration in the JSON form ("7d"); read once per text (evaluations read the same few often). */
export const durationMs = memoByText((d: string): number => Number(d.slice(0, -1)) * UNIT_MS[d[d.length - 1] as keyof typeof UNIT_MS]);

/** The names `leaf` reads from the tests of a condition, through and / or / not. */
function refs(c: Condition, leaf: (c: Condition) => string | undefined, out: Set<string>): Set<string> {
  if (c.op === 'and' || c.op === 'or') for (const a of c.args) refs(a, leaf, out);
  else if (c.op === 'not') refs(c.arg, leaf, out);
  else {
    const name = leaf(c);
    if (name !== undefined) out.add(name);
  }
  return out;
}

/** The segments a condition names directly. */
export function segmentRefs(c: Condition, out = new Set<string>()): Set<string> {
  return refs(c, (t) => (t.op === 'in_segment' ? t.segment : undefined), out);
}

/** The tags a condition names directly (each covering the tags below it). */
export function tagRefs(c: Condition, out = new Set<string>()): Set<string> {
  return refs(c, (t) => (t.op === 'has_tag' ? t.tag : undefined), out);
}

/** Every profile input reference a condition reads (not through other segments or tags). */
export function inputRefs(c: Condition, out = new Set<string>()): Set<string> {
  switch (c.op) {
    case 'and':
    case 'or':
      for (const a of c.args) inputRefs(a, out);
      break;
    case 'not':
      inputRefs(c.arg, out);
      break;
    case 'in_segment':
    case 'has_tag':
      break;
    default:
      out.add(c.ref);
  }
  return out;
}
