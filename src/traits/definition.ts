/**
 * Trait definitions: the JSON Schema (TypeBox, so the type derives from it),
 * validation that lists every problem with its path, and the version hash.
 */
import { createHash } from 'node:crypto';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { Errors, type Problem } from '../core/errors.ts';
import { EVENT_TYPES, type Json } from '../core/event.ts';
import { canonicalJson } from './canonical.ts';
import { parseDuration } from './duration.ts';

export const TRAIT_KINDS = ['count', 'sum', 'min', 'max', 'avg', 'first', 'last', 'distinct', 'top', 'window_count', 'window_sum', 'decayed', 'rfm'] as const;
export type TraitKind = (typeof TRAIT_KINDS)[number];

export const CONDITION_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'exists', 'not_exists', 'contains'] as const;
export type ConditionOp = (typeof CONDITION_OPS)[number];

/** A string enum as one `enum` keyword: one clear error instead of one per literal. */
const StringEnum = <T extends readonly string[]>(values: T, description?: string) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });

/** One value or a non-empty list of them; the description becomes the error message. */
const OneOrMany = <T extends TSchema>(t: T, description: string) => Type.Union([t, Type.Array(t, { minItems: 1 })], { description });

const Duration = Type.Union([Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*[smhdw]\\s*$' }), Type.Integer({ minimum: 1 })], {
  description: 'a duration such as "30m", "12h", "7d", "2w", or a whole number of milliseconds',
});

const Path = Type.String({
  pattern: '^[A-Za-z0-9_$-]+(\\.[A-Za-z0-9_$-]+)*$',
  description: 'a dotted path from the message root, such as "properties.price"',
});

export const ConditionSchema = Type.Object(
  {
    path: Path,
    op: StringEnum(CONDITION_OPS),
    value: Type.Optional(Type.Unsafe<Json>({ description: 'any JSON value; a list for in and not_in' })),
  },
  { additionalProperties: false },
);

export const TraitFilterSchema = Type.Object(
  {
    type: Type.Optional(OneOrMany(StringEnum(EVENT_TYPES), `a message type (${EVENT_TYPES.join(', ')}) or a non-empty list of them`)),
    event: Type.Optional(OneOrMany(Type.String({ minLength: 1 }), 'an event (or page/screen) name or a non-empty list of names')),
    where: Type.Optional(Type.Array(ConditionSchema)),
  },
  { additionalProperties: false },
);

export const TraitDefinitionSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'lower-case letters, digits and underscores, starting with a letter, at most 64 characters' }),
    kind: StringEnum(TRAIT_KINDS),
    description: Type.Optional(Type.String()),
    filter: Type.Optional(TraitFilterSchema),
    value: Type.Optional(Path),
    key: Type.Optional(Path),
    weights: Type.Optional(Type.Record(Type.String(), Type.Number(), { description: 'a weight per event name (decayed)' })),
    halfLife: Type.Optional(Duration),
    window: Type.Optional(Duration),
    bucket: Type.Optional(StringEnum(['hour', 'day'] as const)),
    k: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    exactLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    purpose: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export type TraitDefinition = Static<typeof TraitDefinitionSchema>;
export type Condition = Static<typeof ConditionSchema>;

// verbose: errors carry their schema, whose description makes the message.
const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const check = ajv.compile<TraitDefinition>(TraitDefinitionSchema);

type Field = 'value' | 'key' | 'window' | 'halfLife' | 'bucket' | 'k' | 'exactLimit' | 'weights';

/** Which kinds need a field. */
const REQUIRED: Partial<Record<Field, readonly TraitKind[]>> = {
  value: ['sum', 'min', 'max', 'avg', 'first', 'last', 'distinct', 'window_sum', 'rfm'],
  key: ['top', 'decayed'],
  window: ['window_count', 'window_sum'],
  halfLife: ['decayed'],
};

/** Which kinds read a field: setting it on another kind would silently do nothing, so it is an error. */
const USED_BY: Record<Field, readonly TraitKind[]> = {
  value: [...REQUIRED.value!, 'decayed'],
  key: ['top', 'decayed'],
  window: ['window_count', 'window_sum'],
  halfLife: ['decayed'],
  bucket: ['window_count', 'window_sum', 'decayed'],
  k: ['top', 'decayed'],
  exactLimit: ['distinct'],
  weights: ['decayed'],
};

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const pointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/** Validates a raw definition; throws PORTRAIT_CONFIG_INVALID listing every problem with its path. */
export function validateTraitDefinition(raw: unknown, source = 'the trait definition'): TraitDefinition {
  const problems = check(raw) ? [] : schemaProblems(check.errors ?? []);
  if (isObject(raw)) {
    // Rules across fields run even when the schema failed, so one round of fixes is enough.
    const reported = new Set(problems.map((p) => p.path));
    for (const p of crossFieldProblems(raw)) if (!reported.has(p.path)) problems.push(p);
  }
  if (problems.length > 0) throw Errors.invalidConfig(source, dedupe(problems));
  return raw as TraitDefinition;
}

function schemaProblems(errors: ErrorObject[]): Problem[] {
  // A union (anyOf) with a description is reported once, as "must be <description>",
  // instead of one error per branch.
  const unions = new Map<string, string>();
  for (const e of errors) {
    const d = (e.parentSchema as { description?: unknown } | undefined)?.description;
    if (e.keyword === 'anyOf' && typeof d === 'string') unions.set(e.instancePath, d);
  }
  const inUnion = (path: string) => [...unions.keys()].some((u) => path === u || path.startsWith(`${u}/`));
  const out: Problem[] = [];
  for (const e of errors) {
    if (e.keyword === 'anyOf') {
      const d = unions.get(e.instancePath);
      if (d !== undefined) out.push({ path: e.instancePath, message: `must be ${d}` });
      continue;
    }
    if (inUnion(e.instancePath)) continue;
    out.push(problemOf(e));
  }
  return out;
}

function problemOf(e: ErrorObject): Problem {
  const params = e.params as Record<string, unknown>;
  const description = (e.parentSchema as { description?: unknown } | undefined)?.description;
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: `${e.instancePath}/${pointer(String(params.additionalProperty))}`, message: 'is not a known field' };
    case 'required':
      return { path: `${e.instancePath}/${pointer(String(params.missingProperty))}`, message: 'is required' };
    case 'enum':
      return { path: e.instancePath, message: `must be one of: ${(params.allowedValues as unknown[]).join(', ')}` };
    case 'type':
      return { path: e.instancePath, message: `must be ${params.type === 'object' || params.type === 'array' || params.type === 'integer' ? 'an' : 'a'} ${String(params.type)}` };
    case 'pattern':
    case 'minLength':
      if (typeof description === 'string') return { path: e.instancePath, message: `must be ${description}` };
      break;
  }
  return { path: e.instancePath, message: e.message ?? 'is invalid' };
}

function crossFieldProblems(o: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const kind = typeof o.kind === 'string' && (TRAIT_KINDS as readonly string[]).includes(o.kind) ? (o.kind as TraitKind) : undefined;
  if (kind !== undefined) {
    for (const [field, kinds] of Object.entries(REQUIRED) as Array<[Field, readonly TraitKind[]]>) {
      if (kinds.includes(kind) && o[field] === undefined) problems.push({ path: `/${field}`, message: `is required for a ${kind} trait` });
    }
    for (const [field, kinds] of Object.entries(USED_BY) as Array<[Field, readonly TraitKind[]]>) {
      if (!kinds.includes(kind) && o[field] !== undefined) problems.push({ path: `/${field}`, message: `is not used by a ${kind} trait (only by ${kinds.join(', ')})` });
    }
  }
  for (const field of ['window', 'halfLife'] as const) {
    if (o[field] !== undefined && parseDuration(o[field]) === undefined) problems.push({ path: `/${field}`, message: 'is not a valid duration' });
  }
  const where = isObject(o.filter) ? o.filter.where : undefined;
  if (Array.isArray(where)) {
    where.forEach((c: unknown, i) => {
      if (!isObject(c) || !(CONDITION_OPS as readonly unknown[]).includes(c.op)) return; // an unknown op is a schema problem
      const path = `/filter/where/${i}/value`;
      if (c.op === 'exists' || c.op === 'not_exists') {
        if (c.value !== undefined) problems.push({ path, message: `is not used by op "${c.op}"` });
        return;
      }
      if (c.value === undefined) problems.push({ path, message: `is required for op "${c.op}"` });
      if ((c.op === 'in' || c.op === 'not_in') && !Array.isArray(c.value)) problems.push({ path, message: `must be a list for op "${c.op}"` });
    });
  }
  return problems;
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The version identity of a definition: sha256 of its canonical JSON (sorted keys), first 16 hex digits. */
/**
 * The layout of aggregator states. Bump it when a state's shape changes, so
 * states stored by older code count as another version and get backfilled.
 */
export const STATE_FORMAT = 1;

export function definitionHash(def: TraitDefinition): string {
  return createHash('sha256').update(`${STATE_FORMAT}\u0000${canonicalJson(def)}`).digest('hex').slice(0, 16);
}
