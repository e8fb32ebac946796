/**
 * Search plans on SQLite and PostgreSQL: reading a segment's members or one
 * page by id answers exactly what checking every profile answers (items,
 * order, total, cursors), refuses what it refused, and reads what it says.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { serviceSkip, tempDatabase } from '../../test/support/services.ts';
import { isPortraitError } from '../core/errors.ts';
import type { Json } from '../core/event.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import type { TraitRuntime } from '../profile/index.ts';
import { PostgresStore } from '../storage/postgres/postgres-store.ts';
import { SqliteStore } from '../storage/sqlite/sqlite-store.ts';
import { emptyChangeset, type MembershipChange, type StateStore } from '../storage/index.ts';
import { countAggregator } from '../traits/count.ts';
import { compileSearch } from './search-filter.ts';
import { planSearch } from './search-plan.ts';
import { runSearch, type SearchContext, type SearchPage } from './search.ts';

const NOW = Date.UTC(2026, 10, 1);
const SEGMENTS = ['a', 'b', 'c'];
const TRAITS: TraitRuntime[] = [{ name: 'orders', hash: 'h-orders', aggregator: countAggregator() as unknown as TraitRuntime['aggregator'], input: () => undefined }];
// Ids whose UTF-16 order differs from their code point order ('😀' is U+1F600, 'ｚ' U+FF5A), and digits that sort as text.
const IDS = ['p1', 'p2', 'p10', 'p11', 'B', 'a', 'é', 'ｚ', '😀', 'x-1', 'x_2', 'Z9', 'q', 'r', 's', 't', 'u', 'v', 'w', 'y'];

interface Backend {
  name: string;
  skip: string | false;
  open(): Promise<{ store: StateStore; dispose: () => Promise<void> }>;
}

const pgSkip = await serviceSkip('PostgreSQL');
const BACKENDS: Backend[] = [
  { name: 'SQLite in memory', skip: false, open: async () => ({ store: new SqliteStore({ file: ':memory:' }), dispose: async () => {} }) },
  {
    name: 'SQLite file',
    skip: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'portrait-search-plan-'));
      const store = new SqliteStore({ file: join(dir, 'state.db') });
      return { store, dispose: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    async open() {
      const db = await tempDatabase();
      return { store: await PostgresStore.open({ url: db.url, poolSize: 4 }), dispose: db.drop };
    },
  },
];

interface Person {
  id: string;
  city?: string;
  age?: number | string;
  orders: number;
  /** The trait state was written by another definition version (reads as 0). */
  stale: boolean;
  events: number;
  segments: string[];
}

const person = (id: string) =>
  fc.record({
    id: fc.constant(id),
    city: fc.option(fc.constantFrom('Lima', 'Oslo', 'Pune'), { nil: undefined }),
    age: fc.option(fc.oneof(fc.integer({ min: 18, max: 60 }), fc.constant('41')), { nil: undefined }),
    orders: fc.integer({ min: 0, max: 4 }),
    stale: fc.boolean(),
    events: fc.integer({ min: 0, max: 3 }),
    segments: fc.subarray(SEGMENTS),
  });

const people = fc.subarray(IDS, { maxLength: 16 }).chain((ids) => fc.tuple(...ids.map(person)));

function docOf(p: Person, workspace: string): ProfileDoc {
  const doc = { ...emptyProfile(p.id, workspace, 'user', 1), identifiers: [`user:${p.id}`], eventCount: p.events };
  if (p.city !== undefined) doc.attributes.city = { v: p.city, t: 1, id: 'm' };
  if (p.age !== undefined) doc.attributes.age = { v: p.age, t: 1, id: 'm' };
  if (p.orders > 0) doc.traits.orders = { h: p.stale ? 'h-old' : 'h-orders', s: p.orders };
  return doc;
}

let position = 0;
/** Writes the people into a workspace of their own, with their memberships and one of a profile that does not exist. */
async function write(store: StateStore, workspace: string, ps: readonly Person[]): Promise<void> {
  const change = (segment: string, profileId: string): MembershipChange => ({ workspace, segment, profileId, change: 'entered', time: 1, reason: 'event', position: 1 });
  const changes = [...ps.flatMap((p) => p.segments.map((s) => change(s, p.id))), change('a', 'ghost')];
  await store.commit({ ...emptyChangeset(0, ++position), profiles: ps.map((p) => docOf(p, workspace)), segments: { changes, schedule: [], sizes: [] } });
}

function contextOf(store: StateStore, workspace: string, segmentsBackfilling = new Map<string, number>()): SearchContext {
  return {
    store,
    workspace,
    traits: TRAITS,
    now: NOW,
    backfilling: new Map(),
    segmentsBackfilling,
    members: async (segment) => {
      const out = new Set<string>();
      for (let after: string | undefined; ; ) {
        const rows = await store.segments!.members(workspace, segment, { after, limit: 3 });
        for (const r of rows) out.add(r.profileId);
        if (rows.length < 3) return out;
        after = rows[rows.length - 1]!.profileId;
      }
    },
  };
}

/** Runs a raw query (compiled afresh: a compiled query holds the members it was given). */
function search(store: StateStore, workspace: string, query: Record<string, unknown>, plan?: 'scan'): Promise<SearchPage> {
  return runSearch(compileSearch(query, TRAITS, new Set(SEGMENTS)), contextOf(store, workspace), plan === undefined ? {} : { plan });
}

const SCALARS: Json[] = ['Lima', 'Oslo', 'p2', 'é', 18, 30, 41, '41', 0, 1, 2, true, false, null];
const FIELDS = ['attributes.city', 'attributes.age', 'traits.orders', 'id', 'eventCount', ...SEGMENTS.map((s) => `segments.${s}`)];
const segmentField = fc.constantFrom(...SEGMENTS.map((s) => `segments.${s}`));
const condition = fc.oneof(
  // Membership conditions, often: the ones the plans use.
  { weight: 4, arbitrary: fc.record({ field: segmentField, op: fc.constant('eq'), value: fc.constant(true) }) },
  { weight: 2, arbitrary: fc.record({ field: segmentField, op: fc.constantFrom('eq', 'ne'), value: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ field: segmentField, op: fc.constant('in'), value: fc.subarray([true, false, null], { minLength: 1 }) }) },
  { weight: 1, arbitrary: fc.record({ field: segmentField, op: fc.constant('exists'), value: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ field: fc.constantFrom(...FIELDS), op: fc.constantFrom('eq', 'ne'), value: fc.constantFrom(...SCALARS) }) },
  {
    weight: 2,
    arbitrary: fc.record({ field: fc.constantFrom(...FIELDS), op: fc.constantFrom('gt', 'gte', 'lt', 'lte'), value: fc.constantFrom(...SCALARS.filter((v) => typeof v === 'number' || typeof v === 'string')) }),
  },
  { weight: 1, arbitrary: fc.record({ field: fc.constantFrom(...FIELDS), op: fc.constant('in'), value: fc.array(fc.constantFrom(...SCALARS), { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ field: fc.constantFrom(...FIELDS), op: fc.constant('exists'), value: fc.boolean() }) },
);
const query = fc.record({
  where: fc.oneof(fc.constant([]), fc.array(condition, { minLength: 1, maxLength: 3 })),
  sort: fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.record({ field: fc.constant('id'), order: fc.constantFrom('asc', 'desc') }) },
    { weight: 2, arbitrary: fc.record({ field: fc.constantFrom(...FIELDS), order: fc.constantFrom('asc', 'desc') }) },
  ),
  limit: fc.integer({ min: 1, max: 6 }),
  offset: fc.integer({ min: 0, max: 3 }),
});

for (const backend of BACKENDS) {
  describe(`search plans on ${backend.name}`, { skip: backend.skip }, () => {
    const withStore = async (fn: (store: StateStore) => Promise<void>) => {
      const { store, dispose } = await backend.open();
      try {
        await fn(store);
      } finally {
        await store.close();
        await dispose();
      }
    };

    it('answer every query as checking every profile does: pages, order, totals and cursors, to the last page', () =>
      withStore(async (store) => {
        const plans = new Set<string>();
        let run = 0;
        await fc.assert(
          fc.asyncProperty(people, fc.array(query, { minLength: 1, maxLength: 4 }), async (ps, queries) => {
            const ws = `w${++run}`;
            await write(store, ws, ps);
            for (const { sort, ...rest } of queries) {
              const q: Record<string, unknown> = sort === undefined ? rest : { ...rest, sort };
              const plan = await planSearch(compileSearch(q, TRAITS, new Set(SEGMENTS)), ws, store);
              plans.add(`${plan.kind} ${plan.segment === undefined ? 'workspace' : 'segment'}`);
              let [got, want] = await Promise.all([search(store, ws, q), search(store, ws, q, 'scan')]);
              assert.deepEqual(got, want, `first page of ${JSON.stringify(q)}`);
              const seen = got.items.map((v) => v.id);
              for (let pages = 0; got.next !== undefined; pages++) {
                assert.ok(pages <= ps.length, 'paging ends');
                const next = { ...q, offset: undefined, cursor: got.next };
                [got, want] = await Promise.all([search(store, ws, next), search(store, ws, next, 'scan')]);
                assert.deepEqual(got, want, `a later page of ${JSON.stringify(q)}`);
                seen.push(...got.items.map((v) => v.id));
              }
              assert.equal(new Set(seen).size, seen.length, 'no profile comes twice');
              assert.equal(seen.length, Math.max(0, want.total - rest.offset), 'the pages hold every match after the offset once');
            }
          }),
          { numRuns: backend.name === 'PostgreSQL' ? 60 : 150 },
        );
        assert.deepEqual([...plans].sort(), ['page segment', 'page workspace', 'scan segment', 'scan workspace'], 'the queries took every plan');
      }));

    it('page through a segment and through the workspace with the cursor: every match once, in order, the same total on every page', () =>
      withStore(async (store) => {
        const ps: Person[] = IDS.map((id, i) => ({ id, orders: i % 5, stale: false, events: 1, segments: i % 3 === 0 ? [] : ['a'] }));
        await write(store, 'w', ps);
        const members = ps.filter((p) => p.segments.includes('a')).map((p) => p.id);
        const byCodePoint = (x: string, y: string) => Buffer.compare(Buffer.from(x), Buffer.from(y));
        for (const [where, expected] of [
          [[{ field: 'segments.a', op: 'eq', value: true }], members],
          [[], IDS],
        ] as const) {
          for (const order of ['asc', 'desc'] as const) {
            const ids: string[] = [];
            let cursor: string | undefined;
            do {
              const page = await search(store, 'w', { where, sort: { field: 'id', order }, limit: 4, ...(cursor === undefined ? {} : { cursor }) });
              assert.equal(page.total, expected.length, 'the total on every page');
              ids.push(...page.items.map((v) => v.id));
              cursor = page.next;
            } while (cursor !== undefined);
            const sorted = [...expected].sort(byCodePoint);
            assert.deepEqual(ids, order === 'asc' ? sorted : sorted.reverse(), `${where.length > 0 ? 'members' : 'every profile'}, ${order}, each once, by code point`);
          }
        }
      }));

    it('read one page for an id-sorted listing and the smallest required segment for a segment search', () =>
      withStore(async (store) => {
        const ps: Person[] = IDS.map((id, i) => ({ id, orders: i % 5, stale: false, events: 1, segments: i < 3 ? ['a', 'b'] : i < 12 ? ['a'] : [] }));
        await write(store, 'w', ps);
        const calls: string[] = [];
        const spy: StateStore = Object.create(store) as StateStore;
        spy.scanProfiles = (ws, prefilters, visit, segment) => {
          calls.push(`scan ${segment ?? 'workspace'}`);
          return store.scanProfiles(ws, prefilters, visit, segment);
        };
        spy.profilePage = async (ws, page) => {
          const out = await store.profilePage(ws, page);
          calls.push(`page ${page.segment ?? 'workspace'} ${out.docs.length}`);
          return out;
        };
        const run = (q: Record<string, unknown>) => runSearch(compileSearch(q, TRAITS, new Set(SEGMENTS)), contextOf(spy, 'w'));
        assert.equal((await run({ limit: 5 })).total, IDS.length, 'every profile counted');
        assert.deepEqual(calls.splice(0), ['page workspace 6'], 'the listing reads the page and one more, nothing else');
        assert.equal((await run({ where: [{ field: 'segments.a', op: 'eq', value: true }, { field: 'segments.b', op: 'ne', value: false }], sort: { field: 'id', order: 'desc' } })).total, 3, 'a and b');
        assert.deepEqual(calls.splice(0), ['scan b'], 'two required segments: the smaller one is read, its members checked');
        const bySort = await run({ where: [{ field: 'segments.a', op: 'eq', value: true }], sort: { field: 'traits.orders', order: 'desc' }, limit: 2 });
        assert.equal(bySort.total, 12, 'members of a');
        assert.deepEqual(calls.splice(0), ['scan a'], 'a segment sorted by a trait reads the segment only');
        await run({ where: [{ field: 'segments.a', op: 'eq', value: false }] });
        await run({ where: [{ field: 'attributes.city', op: 'eq', value: 'Lima' }] });
        assert.deepEqual(calls.splice(0), ['scan workspace', 'scan workspace'], 'non-members, or no segment condition: the workspace is scanned');
      }));

    it('refuse a segment being backfilled and an unknown segment, whatever the plan', () =>
      withStore(async (store) => {
        await write(store, 'w', [{ id: 'p1', orders: 1, stale: false, events: 1, segments: ['a'] }]);
        const backfilling = contextOf(store, 'w', new Map([['a', 0.25]]));
        for (const q of [{ where: [{ field: 'segments.a', op: 'eq', value: true }] }, { where: [{ field: 'segments.a', op: 'eq', value: true }, { field: 'traits.orders', op: 'gt', value: 0 }] }, { sort: { field: 'segments.a' } }])
          await assert.rejects(
            runSearch(compileSearch(q, TRAITS, new Set(SEGMENTS)), backfilling),
            (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_SEARCH_SEGMENT_BACKFILLING' && e.status === 409,
            `${JSON.stringify(q)}: refused while a is backfilled`,
          );
        assert.throws(
          () => compileSearch({ where: [{ field: 'segments.zz', op: 'eq', value: true }] }, TRAITS, new Set(SEGMENTS)),
          (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_SEARCH_INVALID' && e.problems[0]?.path === '/where/0/field' && /no segment is named "zz" \(defined: a, b, c\)/.test(e.problems[0].message),
          'an unknown segment is refused with its path',
        );
      }));
  });
}
