/**
 * The order of search results: by the sort field's value (numbers, then
 * strings by code point, booleans, objects), profiles without a value last
 * in both directions, ties by profile id.
 */
import type { Json } from '../core/event.ts';
import { canonicalJson } from '../core/profile.ts';

/** Where a profile stands in the sort order. */
export interface SortEntry {
  key: Json | undefined;
  id: string;
}

/**
 * Compares strings by Unicode code point (the order of their UTF-8 bytes,
 * which is also SQLite's), not by UTF-16 unit as `<` does.
 */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800–DFFF) stand for code points above U+FFFF: move them above U+E000–FFFF.
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

/** Sort rank of a value's type; "no value" ranks last. */
function rank(v: Json | undefined): number {
  if (v === undefined || v === null) return 4;
  switch (typeof v) {
    case 'number':
      return 0;
    case 'string':
      return 1;
    case 'boolean':
      return 2;
    default:
      return 3;
  }
}

/**
 * The search order: by key (numbers, then strings, booleans, objects;
 * reversed when `desc`), profiles without a value last in both directions,
 * ties by profile id.
 */
export function compareEntries(a: SortEntry, b: SortEntry, desc: boolean): number {
  const ra = rank(a.key);
  const rb = rank(b.key);
  if (ra === 4 || rb === 4) {
    if (ra !== rb) return ra === 4 ? 1 : -1;
  } else {
    let c = ra - rb;
    if (c === 0) {
      const x = a.key as Json;
      const y = b.key as Json;
      if (ra === 0) c = (x as number) - (y as number);
      else if (ra === 1) c = compareStrings(x as string, y as string);
      else if (ra === 2) c = Number(x) - Number(y);
      else c = compareStrings(canonicalJson(x), canonicalJson(y));
    }
    if (c !== 0) return desc ? -c : c;
  }
  return compareStrings(a.id, b.id);
}

