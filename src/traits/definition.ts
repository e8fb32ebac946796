/**
 * Trait definitions: the JSON Schema (TypeBox, so the type derives from it),
 * validation with every problem listed, and the version hash.
 */
import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { Errors, type Problem } from '../core/errors.ts';
import { EVENT_TYPES } from '../core/event.ts';
import { canonicalJson } from '../core/profile.ts';
import { parseDuration } from './duration.ts';

export const TRAIT_KINDS = ['count', 'sum', 'min', 'max', 'avg', 'first', 'last', 'distinct', 'top', 'window_count', 'window_sum', 'decayed', 'rfm'] as const;
export type TraitKind = (typeof TRAIT_KINDS)[number];

const OneOrMany = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Array(t, { minItems: 1 })]);
const Duration = Type.Union([Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*[smhdw]$' }), Type.Integer({ minimum: 1 })], {
  description: 'A duration: "30m", "12h", "7d", "2w" or milliseconds.',
});
const Path = Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_$-]+(\\.[A-Za-z0-9_$-]+)*$', description: 'A dotted path from the message root, e.g. properties.price.' });

export const ConditionSchema = Type.Object(
  {
    path: Path,
    op: Type.Union(['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'exists', 'not_exists', 'contains'].map((o) => Type.Literal(o))),
    value: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);

export const TraitDefinitionSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'Lower-case letters, digits and underscores, starting with a letter.' }),
    kind: Type.Union(TRAIT_KINDS.map((k) => Type.Literal(k))),
    description: Type.Optional(Type.String()),
    filter: Type.Optional(
      Type.Object(
        {
          type: Type.Optional(OneOrMany(Type.String({ enum: [...EVENT_TYPES] }))),
          event: Type.Optional(OneOrMany(Type.String({ minLength: 1 }))),
          where: Type.Optional(Type.Array(ConditionSchema)),
        },
        { additionalProperties: false },
      ),
    ),
    value: Type.Optional(Path),
    key: Type.Optional(Path),
    weights: Type.Optional(Type.Record(Type.String(), Type.Number())),
    halfLife: Type.Optional(Duration),
    window: Type.Optional(Duration),
    bucket: Type.Optional(Type.Union([Type.Literal('hour'), Type.Literal('day')])),
    k: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    exactLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
    purpose: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export type TraitDefinition = Static<typeof TraitDefinitionSchema>;
export type Condition = Static<typeof ConditionSchema>;

const ajv = new Ajv({ allErrors: true, strict: false });
const check = ajv.compile(TraitDefinitionSchema);

const NEEDS_VALUE: ReadonlySet<TraitKind> = new Set(['sum', 'min', 'max', 'avg', 'first', 'last', 'distinct', 'window_sum']);
const NEEDS_KEY: ReadonlySet<TraitKind> = new Set(['top', 'decayed']);

/** Validates a raw definition; throws PORTRAIT_CONFIG_INVALID listing every problem with its path. */
export function validateTraitDefinition(raw: unknown, source = 'the trait definition'): TraitDefinition {
  const problems: Problem[] = [];
  if (!check(raw)) {
    for (const e of check.errors ?? []) {
      if (e.keyword === 'anyOf' || e.keyword === 'if') continue;
      const extra = e.keyword === 'additionalProperties' ? `/${String((e.params as { additionalProperty: string }).additionalProperty)}` : '';
      const message =
        e.keyword === 'additionalProperties' ? 'is not a known field'
        : e.keyword === 'const' ? `must be one of the allowed values (${kindHint(e.instancePath)})`
        : (e.message ?? 'is invalid');
      problems.push({ path: e.instancePath + extra, message });
    }
    throw Errors.invalidConfig(source, dedupe(problems));
  }
  const def = raw as TraitDefinition;
  if (NEEDS_VALUE.has(def.kind) && def.value === undefined) problems.push({ path: '/value', message: `is required for a ${def.kind} trait` });
  if (NEEDS_KEY.has(def.kind) && def.key === undefined) problems.push({ path: '/key', message: `is required for a ${def.kind} trait` });
  if ((def.kind === 'window_count' || def.kind === 'window_sum') && def.window === undefined) problems.push({ path: '/window', message: `is required for a ${def.kind} trait` });
  if (def.kind === 'decayed' && def.halfLife === undefined) problems.push({ path: '/halfLife', message: 'is required for a decayed trait' });
  if (def.window !== undefined && parseDuration(def.window) === undefined) problems.push({ path: '/window', message: 'is not a valid duration' });
  if (def.halfLife !== undefined && parseDuration(def.halfLife) === undefined) problems.push({ path: '/halfLife', message: 'is not a valid duration' });
  (def.filter?.where ?? []).forEach((c, i) => {
    const needsValue = c.op !== 'exists' && c.op !== 'not_exists';
    if (needsValue && c.value === undefined) problems.push({ path: `/filter/where/${i}/value`, message: `is required for op "${c.op}"` });
    if ((c.op === 'in' || c.op === 'not_in') && !Array.isArray(c.value)) problems.push({ path: `/filter/where/${i}/value`, message: `must be an array for op "${c.op}"` });
  });
  if (problems.length > 0) throw Errors.invalidConfig(source, problems);
  return def;
}

function kindHint(path: string): string {
  return path === '/kind' ? TRAIT_KINDS.join(', ') : 'see the schema';
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

/** The version identity of a definition: a hash of its canonical JSON. */
export function definitionHash(def: TraitDefinition): string {
  return createHash('sha256').update(canonicalJson(def)).digest('hex').slice(0, 16);
}
