/**
 * Running a profile search. A search whose matches every belong to a segment
 * checks that segment's members only; one that nothing but that (or nothing
 * at all) decides, sorted by id, reads just its page (search-plan.ts). Else
 * it scans the workspace's profiles (narrowed by attribute prefilters the
 * store may apply), each checked at read time, keeping only the best
 * `offset + limit + 1` in memory, so a search costs memory for one page, not
 * for every match.
 */
import { Errors } from '../core/errors.ts';
import type { ProfileDoc } from '../core/profile.ts';
import { viewOf, type ProfileView, type TraitRuntime } from '../profile/index.ts';
import type { StateStore } from '../storage/index.ts';
import { encodeCursor, fieldValue, matches, prefiltersOf, type CompiledSearch, type FieldRef } from './search-filter.ts';
import { compareEntries, type SortEntry } from './search-order.ts';
import { planSearch, type SearchPlan } from './search-plan.ts';

export interface SearchPage {
  items: ProfileView[];
  /** Profiles matching the conditions, on every page. */
  total: number;
  /** Cursor of the next page; absent on the last one. */
  next?: string;
}

export interface SearchContext {
  store: Pick<StateStore, 'scanProfiles' | 'profilePage' | 'profileCount'>;
  workspace: string;
  traits: readonly TraitRuntime[];
  now: number;
  backfilling: ReadonlyMap<string, number>;
  /** Segments being evaluated over existing profiles, with progress. */
  segmentsBackfilling?: ReadonlyMap<string, number>;
  /** Every member of a segment. */
  members?: (segment: string) => Promise<Set<string>>;
}

/**
 * Runs a compiled search. `plan: 'scan'` checks every profile of the
 * workspace whatever the query: the reference the other plans must equal.
 */
export async function runSearch(q: CompiledSearch, ctx: SearchContext, o: { plan?: 'scan' } = {}): Promise<SearchPage> {
  const segmentFields: Array<Extract<FieldRef, { ns: 'segments' }>> = [];
  // A trait or segment being backfilled has partial values: refuse rather than answer wrongly.
  for (const f of [...q.where.map((c) => c.field), q.sort.field]) {
    const progress = f.ns === 'traits' ? ctx.backfilling.get(f.name) : undefined;
    if (progress !== undefined) throw Errors.searchTraitBackfilling(f.name, progress);
    if (f.ns === 'segments') {
      const partial = ctx.segmentsBackfilling?.get(f.name);
      if (partial !== undefined) throw Errors.searchSegmentBackfilling(f.name, partial);
      segmentFields.push(f);
    }
  }
  const plan: SearchPlan = o.plan === 'scan' ? { kind: 'scan' } : await planSearch(q, ctx.workspace, ctx.store);
  if (plan.kind === 'page') return readPage(q, ctx, plan.segment);
  // The segment read is every member of its segment; other segments are looked up by their members.
  const read = segmentFields.filter((f) => f.name === plan.segment);
  const names = new Set(segmentFields.filter((f) => f.name !== plan.segment).map((f) => f.name));
  const members = new Map(await Promise.all([...names].map(async (n) => [n, ctx.members ? await ctx.members(n) : new Set<string>()] as const)));
  for (const f of segmentFields) for (const id of members.get(f.name) ?? []) f.members.add(id);
  return scan(q, ctx, plan.segment, (doc) => {
    for (const f of read) f.members.add(doc.id);
  });
}

/** Checks every profile of the workspace (or of a segment's members), keeping the page and counting the matches. */
async function scan(q: CompiledSearch, ctx: SearchContext, segment: string | undefined, seen: (doc: ProfileDoc) => void): Promise<SearchPage> {
  const keep = q.offset + q.limit + 1;
  const cmp = (a: { entry: SortEntry }, b: { entry: SortEntry }) => compareEntries(a.entry, b.entry, q.sort.desc);
  let best: Array<{ entry: SortEntry; doc: ProfileDoc }> = [];
  let total = 0;
  const visit = (doc: ProfileDoc) => {
    seen(doc);
    if (!matches(doc, q.where, ctx.now)) return;
    total++;
    const entry: SortEntry = { key: fieldValue(doc, q.sort.field, ctx.now), id: doc.id };
    if (q.after !== undefined && compareEntries(entry, q.after, q.sort.desc) <= 0) return;
    best.push({ entry, doc });
    // Amortised selection of the first `keep`: sort and cut whenever the buffer doubles.
    if (best.length >= keep * 2) best = best.sort(cmp).slice(0, keep);
  };
  await ctx.store.scanProfiles(ctx.workspace, prefiltersOf(q.where), visit, segment);
  best.sort(cmp);
  return pageOf(best.slice(q.offset, q.offset + q.limit + 1), total, q, ctx);
}

/** Reads only the page, in id order, after the cursor's id: every profile read (of the workspace, or of the segment) matches. */
async function readPage(q: CompiledSearch, ctx: SearchContext, segment: string | undefined): Promise<SearchPage> {
  const { docs, total } = await ctx.store.profilePage(ctx.workspace, { segment, after: q.after?.id, desc: q.sort.desc, offset: q.offset, limit: q.limit + 1 });
  return pageOf(
    docs.map((doc) => ({ entry: { key: doc.id, id: doc.id }, doc })),
    total,
    q,
    ctx,
  );
}

/** The page from the matches that follow the skipped ones (at most one more than the page, which says whether a next page exists). */
function pageOf(rest: ReadonlyArray<{ entry: SortEntry; doc: ProfileDoc }>, total: number, q: CompiledSearch, ctx: SearchContext): SearchPage {
  const page = rest.slice(0, q.limit);
  const items = page.map((x) => viewOf(x.doc, ctx.traits, ctx.now, ctx.backfilling));
  const last = page[page.length - 1];
  return rest.length > q.limit && last !== undefined ? { items, total, next: encodeCursor(last.entry, q.fingerprint) } : { items, total };
}
