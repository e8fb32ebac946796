/**
 * Compiling a definition into what the engine runs for every event: the
 * filter, and reading the value, key and weight. Paths are split once; the
 * per-event work allocates only the returned input.
 */
import type { PortraitEvent } from '../core/event.ts';
import type { Aggregator, AggregatorInput } from './aggregator.ts';
import type { Condition, TraitDefinition } from './definition.ts';
import { definitionHash } from './definition.ts';
import { keyOf, toNumber } from './numbers.ts';
import { createAggregator } from './registry.ts';

export interface CompiledTrait {
  name: string;
  hash: string;
  definition: TraitDefinition;
  aggregator: Aggregator;
  /** The aggregator input for an event, or undefined when the filter does not match. */
  input(e: PortraitEvent): AggregatorInput | undefined;
}

type Getter = (e: PortraitEvent) => unknown;

function getter(path: string): Getter {
  const parts = path.split('.');
  if (parts.length === 1) return (e) => (e as unknown as Record<string, unknown>)[parts[0]!];
  return (e) => {
    let cur: unknown = e;
    for (const p of parts) {
      if (cur === null || typeof cur !== 'object') return undefined;
      cur = (cur as Record<string, unknown>)[p];
    }
    return cur;
  };
}

function compare(a: unknown, b: unknown): number | undefined {
  const x = toNumber(a);
  const y = toNumber(b);
  if (x !== undefined && y !== undefined && typeof a === typeof b) return x - y;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (x !== undefined && y !== undefined) return x - y;
  return undefined;
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) return JSON.stringify(a) === JSON.stringify(b);
  return false;
}

function condition(c: Condition): (e: PortraitEvent) => boolean {
  const get = getter(c.path);
  const v = c.value;
  switch (c.op) {
    case 'exists':
      return (e) => get(e) !== undefined && get(e) !== null;
    case 'not_exists':
      return (e) => get(e) === undefined || get(e) === null;
    case 'eq':
      return (e) => same(get(e), v);
    case 'neq':
      return (e) => !same(get(e), v);
    case 'gt':
      return (e) => { const r = compare(get(e), v); return r !== undefined && r > 0; };
    case 'gte':
      return (e) => { const r = compare(get(e), v); return r !== undefined && r >= 0; };
    case 'lt':
      return (e) => { const r = compare(get(e), v); return r !== undefined && r < 0; };
    case 'lte':
      return (e) => { const r = compare(get(e), v); return r !== undefined && r <= 0; };
    case 'in': {
      const set = v as unknown[];
      return (e) => { const x = get(e); return set.some((s) => same(x, s)); };
    }
    case 'not_in': {
      const set = v as unknown[];
      return (e) => { const x = get(e); return !set.some((s) => same(x, s)); };
    }
    case 'contains':
      return (e) => {
        const x = get(e);
        if (typeof x === 'string') return typeof v === 'string' && x.includes(v);
        if (Array.isArray(x)) return x.some((s) => same(s, v));
        return false;
      };
    default: {
      const never: never = c.op as never;
      throw new Error(`unknown condition op ${String(never)}`);
    }
  }
}

const asSet = (x: string | string[] | undefined): ReadonlySet<string> | undefined => (x === undefined ? undefined : new Set(Array.isArray(x) ? x : [x]));

/** Compiles a validated definition. */
export function compileTrait(def: TraitDefinition): CompiledTrait {
  const types = asSet(def.filter?.type);
  const names = asSet(def.filter?.event);
  const conditions = (def.filter?.where ?? []).map(condition);
  const value = def.value === undefined ? undefined : getter(def.value);
  const key = def.key === undefined ? undefined : getter(def.key);
  const weights = def.weights;
  return {
    name: def.name,
    hash: definitionHash(def),
    definition: def,
    aggregator: createAggregator(def),
    input(e) {
      if (types !== undefined && !types.has(e.type)) return undefined;
      if (names !== undefined) {
        const n = e.type === 'track' ? e.event : e.name;
        if (n === undefined || !names.has(n)) return undefined;
      }
      for (const c of conditions) if (!c(e)) return undefined;
      let k: string | undefined;
      if (key !== undefined) {
        k = keyOf(key(e));
        if (k === undefined) return undefined;
      }
      const name = e.type === 'track' ? e.event : e.name;
      const weight = weights !== undefined && name !== undefined ? (weights[name] ?? 1) : 1;
      return { time: e.timestamp, id: e.messageId, value: value === undefined ? undefined : value(e), key: k, weight };
    },
  };
}
