/**
 * Compiling a definition into what the engine runs for every event × every
 * trait: the filter, and reading the value, key and weight. Paths are split
 * once and conditions built once; per event, only the returned input is
 * allocated.
 */
import type { PortraitEvent } from '../core/event.ts';
import type { Aggregator, AggregatorInput } from './aggregator.ts';
import { canonicalJson, keyOf } from './canonical.ts';
import { definitionHash, type Condition, type TraitDefinition } from './definition.ts';
import { toNumber } from './numbers.ts';
import { createAggregator } from './registry.ts';

export interface CompiledTrait {
  name: string;
  /** definitionHash(definition): the version identity. */
  hash: string;
  definition: TraitDefinition;
  aggregator: Aggregator;
  /** The aggregator input for an event, or undefined when the event does not match. */
  input(e: PortraitEvent): AggregatorInput | undefined;
}

type Getter = (e: PortraitEvent) => unknown;

/**
 * Reads a dotted path from the event root. Only own properties count, so
 * "properties.constructor" is absent unless the sender set it; arrays are
 * indexed by number ("properties.items.0.sku").
 */
function getter(path: string): Getter {
  const parts = path.split('.');
  return (e) => {
    let cur: unknown = e;
    for (let i = 0; i < parts.length; i++) {
      if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, parts[i]!)) return undefined;
      cur = (cur as Record<string, unknown>)[parts[i]!];
    }
    return cur;
  };
}

/** Order of two values for gt/gte/lt/lte: numbers (or numeric strings) numerically, other strings by code unit; undefined when incomparable. */
function compare(a: unknown, b: unknown): number | undefined {
  if (typeof a === 'string' && typeof b === 'string') {
    const x = toNumber(a);
    const y = toNumber(b);
    if (x !== undefined && y !== undefined) return x - y;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const x = toNumber(a);
  const y = toNumber(b);
  return x !== undefined && y !== undefined ? x - y : undefined;
}

/** Equality by content, no coercion: objects and arrays compare as canonical JSON. */
function equalTo(v: unknown): (x: unknown) => boolean {
  if (typeof v !== 'object' || v === null) return (x) => x === v;
  const want = canonicalJson(v);
  return (x) => typeof x === 'object' && x !== null && canonicalJson(x) === want;
}

function condition(c: Condition): (e: PortraitEvent) => boolean {
  const get = getter(c.path);
  const v = c.value;
  const holds = (test: (r: number) => boolean) => (e: PortraitEvent) => {
    const r = compare(get(e), v);
    return r !== undefined && test(r);
  };
  switch (c.op) {
    case 'exists':
      return (e) => get(e) != null;
    case 'not_exists':
      return (e) => get(e) == null;
    case 'eq': {
      const eq = equalTo(v);
      return (e) => eq(get(e));
    }
    case 'neq': {
      const eq = equalTo(v);
      return (e) => !eq(get(e));
    }
    case 'gt':
      return holds((r) => r > 0);
    case 'gte':
      return holds((r) => r >= 0);
    case 'lt':
      return holds((r) => r < 0);
    case 'lte':
      return holds((r) => r <= 0);
    case 'in':
    case 'not_in': {
      const tests = (Array.isArray(v) ? v : []).map(equalTo);
      const want = c.op === 'in';
      return (e) => {
        const x = get(e);
        return tests.some((t) => t(x)) === want;
      };
    }
    case 'contains': {
      const eq = equalTo(v);
      return (e) => {
        const x = get(e);
        if (typeof x === 'string') return typeof v === 'string' && x.includes(v);
        return Array.isArray(x) && x.some(eq);
      };
    }
    default: {
      const never: never = c.op;
      throw new Error(`unhandled condition op ${String(never)}`);
    }
  }
}

const asSet = (x: string | string[] | undefined): ReadonlySet<string> | undefined => (x === undefined ? undefined : new Set(Array.isArray(x) ? x : [x]));

/** The name an event filter and weights match: the track event, or the page/screen name. */
const nameOf = (e: PortraitEvent): string | undefined => (e.type === 'track' ? e.event : e.type === 'page' || e.type === 'screen' ? e.name : undefined);

/** Compiles a validated definition. */
export function compileTrait(def: TraitDefinition): CompiledTrait {
  const types = asSet(def.filter?.type);
  const names = asSet(def.filter?.event);
  const conditions = (def.filter?.where ?? []).map(condition);
  const value = def.value === undefined ? undefined : getter(def.value);
  const key = def.key === undefined ? undefined : getter(def.key);
  // A Map, not the object: an event named "constructor" must not find Object.prototype.constructor.
  const weights = def.weights === undefined ? undefined : new Map(Object.entries(def.weights));
  return {
    name: def.name,
    hash: definitionHash(def),
    definition: def,
    aggregator: createAggregator(def),
    input(e) {
      if (types !== undefined && !types.has(e.type)) return undefined;
      const name = names !== undefined || weights !== undefined ? nameOf(e) : undefined;
      if (names !== undefined && (name === undefined || !names.has(name))) return undefined;
      for (let i = 0; i < conditions.length; i++) if (!conditions[i]!(e)) return undefined;
      let k: string | undefined;
      if (key !== undefined) {
        // A keyed trait has nothing to add an event without a key to.
        k = keyOf(key(e));
        if (k === undefined) return undefined;
      }
      const weight = weights !== undefined && name !== undefined ? (weights.get(name) ?? 1) : 1;
      return { time: e.timestamp, id: e.messageId, value: value === undefined ? undefined : value(e), key: k, weight };
    },
  };
}
