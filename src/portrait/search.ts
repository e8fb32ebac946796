/**
 * Running a profile search: one scan of the workspace's profiles (narrowed
 * by attribute prefilters the store may apply), each checked at read time,
 * keeping only the best `offset + limit + 1` in memory, so a search costs
 * memory for one page, not for every match.
 */
import { Errors } from '../core/errors.ts';
import type { ProfileDoc } from '../core/profile.ts';
import { viewOf, type ProfileView, type TraitRuntime } from '../profile/index.ts';
import type { StateStore } from '../storage/index.ts';
import { encodeCursor, fieldValue, matches, prefiltersOf, type CompiledSearch } from './search-filter.ts';
import { compareEntries, type SortEntry } from './search-order.ts';

export interface SearchPage {
  items: ProfileView[];
  /** Profiles matching the conditions, on every page. */
  total: number;
  /** Cursor of the next page; absent on the last one. */
  next?: string;
}

export interface SearchContext {
  store: Pick<StateStore, 'scanProfiles'>;
  workspace: string;
  traits: readonly TraitRuntime[];
  now: number;
  backfilling: ReadonlyMap<string, number>;
  /** Segments being evaluated over existing profiles, with progress. */
  segmentsBackfilling?: ReadonlyMap<string, number>;
  /** Every member of a segment. */
  members?: (segment: string) => Promise<Set<string>>;
}

export async function runSearch(q: CompiledSearch, ctx: SearchContext): Promise<SearchPage> {
  // A trait being backfilled has partial values: refuse rather than answer wrongly.
  for (const f of [...q.where.map((c) => c.field), q.sort.field]) {
    const progress = f.ns === 'traits' ? ctx.backfilling.get(f.name) : undefined;
    if (progress !== undefined) throw Errors.searchTraitBackfilling(f.name, progress);
    if (f.ns === 'segments') {
      const partial = ctx.segmentsBackfilling?.get(f.name);
      if (partial !== undefined) throw Errors.searchSegmentBackfilling(f.name, partial);
      if (ctx.members) for (const id of await ctx.members(f.name)) f.members.add(id);
    }
  }
  const keep = q.offset + q.limit + 1;
  const cmp = (a: { entry: SortEntry }, b: { entry: SortEntry }) => compareEntries(a.entry, b.entry, q.sort.desc);
  let best: Array<{ entry: SortEntry; doc: ProfileDoc }> = [];
  let total = 0;
  await ctx.store.scanProfiles(ctx.workspace, prefiltersOf(q.where), (doc) => {
    if (!matches(doc, q.where, ctx.now)) return;
    total++;
    const entry: SortEntry = { key: fieldValue(doc, q.sort.field, ctx.now), id: doc.id };
    if (q.after !== undefined && compareEntries(entry, q.after, q.sort.desc) <= 0) return;
    best.push({ entry, doc });
    // Amortised selection of the first `keep`: sort and cut whenever the buffer doubles.
    if (best.length >= keep * 2) best = best.sort(cmp).slice(0, keep);
  });
  best.sort(cmp);
  const page = best.slice(q.offset, q.offset + q.limit);
  const items = page.map((x) => viewOf(x.doc, ctx.traits, ctx.now, ctx.backfilling));
  const last = page[page.length - 1];
  return best.length > q.offset + q.limit && last !== undefined ? { items, total, next: encodeCursor(last.entry, q.fingerprint) } : { items, total };
}
