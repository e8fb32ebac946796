/** Profile search through the library: worked examples, bad queries, and search = filtering every profile in memory. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DAY, HOUR, ManualClock } from '../core/clock.ts';
import { isPortraitError, type PortraitError } from '../core/errors.ts';
import type { Json } from '../core/event.ts';
import type { ProfileView } from '../profile/index.ts';
import { Portrait } from './portrait.ts';
import type { SearchPage } from './search.ts';

const T0 = Date.UTC(2026, 10, 1);
const TRAITS = [
  { name: 'orders', kind: 'count', filter: { event: 'Order Completed' } },
  { name: 'recent', kind: 'window_count', filter: { event: 'Order Completed' }, window: '1d' },
  { name: 'spent', kind: 'sum', filter: { event: 'Order Completed' }, value: 'properties.price' },
];

async function open(): Promise<{ p: Portrait; clock: ManualClock }> {
  const clock = new ManualClock(T0);
  const p = await Portrait.open({ identity: { hashKey: '00'.repeat(32) }, traits: TRAITS }, { memory: true, clock });
  return { p, clock };
}

async function searchError(p: Portrait, query: unknown): Promise<PortraitError> {
  try {
    await p.searchProfiles(query);
  } catch (e) {
    if (isPortraitError(e)) return e;
    throw e;
  }
  return assert.fail(`expected ${JSON.stringify(query)} to be refused`);
}

const ids = (page: SearchPage) => page.items.map((v) => v.identities.userIds[0]);

describe('Portrait.searchProfiles', () => {
  it('filters by attribute and computed trait, sorts, pages with a cursor and counts the total', async () => {
    const { p } = await open();
    try {
      const people: Array<[string, string, number]> = [
        ['ann', 'Lima', 3],
        ['bob', 'Oslo', 1],
        ['cy', 'Lima', 5],
        ['dee', 'Lima', 0],
        ['eve', 'Pune', 2],
      ];
      await p.ingest(
        people.flatMap(([u, city, n]) => [
          { type: 'identify', userId: u, traits: { city, tags: n > 1 ? ['loyal'] : [] }, timestamp: T0 - HOUR },
          ...Array.from({ length: n }, (_, i) => ({ type: 'track', userId: u, event: 'Order Completed', properties: { price: 10 }, timestamp: T0 - HOUR + i })),
        ]),
      );
      await p.drain();
      const lima = await p.searchProfiles({ where: [{ field: 'attributes.city', op: 'eq', value: 'Lima' }], sort: { field: 'traits.orders', order: 'desc' } });
      assert.deepEqual(ids(lima), ['cy', 'ann', 'dee'], 'Lima profiles by orders, most first');
      assert.equal(lima.total, 3, 'total counts every match');
      assert.equal(lima.next, undefined, 'one page holds them all');
      assert.equal((lima.items[0]!.traits as Record<string, Json>).spent, 50, 'items are full profile views');

      const q = { where: [{ field: 'traits.orders', op: 'gte', value: 1 }], sort: { field: 'traits.orders' }, limit: 2 };
      const first = await p.searchProfiles(q);
      assert.deepEqual(ids(first), ['bob', 'eve'], 'first page, fewest orders first');
      assert.equal(first.total, 4, 'the total does not depend on the page');
      assert.equal(typeof first.next, 'string', 'a next cursor when more follow');
      const second = await p.searchProfiles({ ...q, cursor: first.next });
      assert.deepEqual(ids(second), ['ann', 'cy'], 'the second page continues after the cursor');
      assert.equal(second.next, undefined, 'no cursor on the last page');
      assert.deepEqual(ids(await p.searchProfiles({ ...q, offset: 1, limit: 2 })), ['eve', 'ann'], 'offset paging');

      const loyal = await p.searchProfiles({ where: [{ field: 'attributes.tags', op: 'contains', value: 'loyal' }, { field: 'attributes.city', op: 'ne', value: 'Lima' }] });
      assert.deepEqual(ids(loyal), ['eve'], 'contains on an array, combined with ne (AND)');
      const missing = await p.searchProfiles({ where: [{ field: 'attributes.age', op: 'exists', value: false }] });
      assert.equal(missing.total, 5, 'exists false: profiles without the attribute');
      const among = await p.searchProfiles({ where: [{ field: 'attributes.city', op: 'in', value: ['Oslo', 'Pune'] }, { field: 'attributes.city', op: 'contains', value: 'l' }] });
      assert.deepEqual(ids(among), ['bob'], 'in, and contains on a string');
    } finally {
      await p.close();
    }
  });

  it('evaluates window traits at read time', async () => {
    const { p, clock } = await open();
    try {
      await p.ingest([{ type: 'track', userId: 'ann', event: 'Order Completed', timestamp: T0 - HOUR }]);
      await p.drain();
      const q = { where: [{ field: 'traits.recent', op: 'gt', value: 0 }] };
      assert.equal((await p.searchProfiles(q)).total, 1, 'the order is within the day');
      clock.advance(2 * DAY);
      assert.equal((await p.searchProfiles(q)).total, 0, 'two days later it has left the window, with no new event');
      assert.equal((await p.searchProfiles(q, { now: T0 })).total, 1, '"now" can be given');
    } finally {
      await p.close();
    }
  });

  it('filters by consent per purpose: granted now, or not (no decision reads as not granted)', async () => {
    const { p } = await open();
    try {
      await p.ingest([
        { type: 'identify', userId: 'ann', traits: { consent: { marketing: true } } },
        { type: 'identify', userId: 'bob', traits: { consent: { marketing: false, analytics: true } } },
        { type: 'identify', userId: 'cyd', traits: { city: 'Lima' } },
      ]);
      await p.drain();
      const by = async (purpose: string, value: boolean) => ids(await p.searchProfiles({ where: [{ field: `consents.${purpose}`, op: 'eq', value }], sort: { field: 'id' } })).sort();
      assert.deepEqual(await by('marketing', true), ['ann'], 'only ann granted marketing');
      assert.deepEqual(await by('marketing', false), ['bob', 'cyd'], 'bob withdrew, cyd never decided');
      assert.deepEqual(await by('analytics', true), ['bob'], 'bob granted analytics');
      await assert.rejects(
        p.searchProfiles({ where: [{ field: 'consents.ads', op: 'eq', value: true }] }),
        (e: { code: string; problems: Array<{ path: string; message: string }> }) =>
          e.code === 'PORTRAIT_SEARCH_INVALID' && e.problems[0]!.path === '/where/0/field' && /no purpose is named "ads"/.test(e.problems[0]!.message),
        'an unknown purpose is refused with its path',
      );
    } finally {
      await p.close();
    }
  });

  it('keeps workspaces apart', async () => {
    const { p } = await open();
    try {
      await p.ingest([{ type: 'identify', userId: 'ann', traits: { city: 'Lima' } }], { workspace: 'a' });
      await p.ingest([{ type: 'identify', userId: 'bob', traits: { city: 'Lima' } }], { workspace: 'b' });
      await p.drain();
      const q = { where: [{ field: 'attributes.city', op: 'eq', value: 'Lima' }] };
      assert.deepEqual(ids(await p.searchProfiles(q, { workspace: 'a' })), ['ann'], 'workspace a sees its profile only');
      assert.deepEqual(ids(await p.searchProfiles(q, { workspace: 'b' })), ['bob'], 'workspace b sees its profile only');
      assert.equal((await p.searchProfiles(q)).total, 0, 'the default workspace has none');
    } finally {
      await p.close();
    }
  });

  it('refuses bad queries with every problem and its path', async () => {
    const { p } = await open();
    try {
      const cases: Array<[unknown, string, RegExp]> = [
        [{ where: [{ field: 'segments.vip', op: 'eq', value: true }] }, '/where/0/field', /no segment is named "vip" \(none is defined\)/],
        [{ where: [{ field: 'traits.nope', op: 'eq', value: 1 }] }, '/where/0/field', /no computed trait is named "nope" \(defined: orders, recent, spent\)/],
        [{ where: [{ field: 'city', op: 'eq', value: 1 }] }, '/where/0/field', /not a searchable field/],
        [{ where: [{ field: 'attributes.city', op: 'like', value: 'L' }] }, '/where/0/op', /must be one of: eq, ne, gt/],
        [{ where: [{ field: 'attributes.age', op: 'gt', value: true }] }, '/where/0/value', /gt compares with a number or a string/],
        [{ where: [{ field: 'attributes.age', op: 'in', value: 3 }] }, '/where/0/value', /in needs a list/],
        [{ where: [{ field: 'attributes.age', op: 'eq' }] }, '/where/0/value', /eq needs a value/],
        [{ where: [{ field: 'attributes.age', op: 'exists', value: 'yes' }] }, '/where/0/value', /exists takes true or false/],
        [{ limit: 1001 }, '/limit', /must be <= 1000/],
        [{ limit: 0 }, '/limit', /must be >= 1/],
        [{ sort: { field: 'attributes.age', order: 'up' } }, '/sort/order', /must be one of: asc, desc/],
        [{ colour: 'red' }, '/colour', /not a known part/],
        [{ cursor: 'garbage', offset: 1 }, '/offset', /either a cursor or an offset/],
        [{ cursor: 'garbage' }, '/cursor', /not a cursor this API gave out/],
        ['everything', '/', /must be object/],
      ];
      for (const [query, path, message] of cases) {
        const e = await searchError(p, query);
        assert.equal(e.code, 'PORTRAIT_SEARCH_INVALID', `${JSON.stringify(query)}: code`);
        assert.equal(e.status, 400, `${JSON.stringify(query)}: status`);
        const problem = e.problems.find((x) => x.path === path);
        assert.ok(problem, `${JSON.stringify(query)}: a problem at ${path}, got ${JSON.stringify(e.problems)}`);
        assert.match(problem.message, message, `${JSON.stringify(query)}: message`);
      }
      const two = await searchError(p, { where: [{ field: 'segments.vip', op: 'eq', value: 1 }, { field: 'attributes.x', op: 'gt' }] });
      assert.equal(two.problems.length, 2, 'every problem is listed, not only the first');
    } finally {
      await p.close();
    }
  });

  it('refuses a cursor from another query', async () => {
    const { p } = await open();
    try {
      await p.ingest(['a', 'b', 'c'].map((u) => ({ type: 'identify', userId: u, traits: { n: 1 } })));
      await p.drain();
      const page = await p.searchProfiles({ limit: 1 });
      assert.equal(typeof page.next, 'string', 'a cursor');
      const e = await searchError(p, { limit: 1, cursor: page.next, sort: { field: 'attributes.n' } });
      assert.match(e.message, /different query/, 'the sort changed');
    } finally {
      await p.close();
    }
  });
});

describe('Portrait.searchProfiles on a data directory', () => {
  it('runs concurrent searches on their own connections and lets other work run meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portrait-search-'));
    const p = await Portrait.open({ dataDir: dir, identity: { hashKey: '00'.repeat(32) }, traits: TRAITS });
    try {
      await p.ingest(Array.from({ length: 2500 }, (_, i) => ({ type: 'identify', userId: `u${i}`, traits: { n: i % 10 }, messageId: `m${i}` })));
      await p.drain();
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 0);
      const q = (n: number) => ({ where: [{ field: 'attributes.n', op: 'eq', value: n }], sort: { field: 'id' }, limit: 5 });
      // `all` reads one page by id; `sorted` checks every profile (sorted by an attribute), 1000 between yields.
      const [a, b, all, sorted] = await Promise.all([p.searchProfiles(q(3)), p.searchProfiles(q(7)), p.searchProfiles({ limit: 1 }), p.searchProfiles({ sort: { field: 'attributes.n' }, limit: 1 })]);
      clearInterval(ticker);
      assert.equal(a.total, 250, 'one tenth have n = 3');
      assert.equal(b.total, 250, 'one tenth have n = 7');
      assert.equal(all.total, 2500, 'all profiles');
      assert.equal(sorted.total, 2500, 'all profiles, sorted by n');
      assert.ok(a.items.every((v) => v.attributes.n === 3), 'items match');
      assert.ok(ticks > 0, 'timers ran while the scans were under way');
    } finally {
      await p.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- search equals filtering every profile in memory ----

const SCALARS: Json[] = ['Lima', 'Oslo', 'a', 'b', 'Lim', 18, 30, 41, '41', 0, 1, 2, 3, 25.5, true, false, null];
const scalar = fc.constantFrom(...SCALARS);
const FIELDS = ['attributes.city', 'attributes.age', 'attributes.vip', 'attributes.tags', 'attributes.missing', 'traits.orders', 'traits.recent', 'traits.spent', 'id', 'eventCount'];

const person = fc.record(
  {
    city: fc.constantFrom('Lima', 'Oslo', 'Pune', 'Lim'),
    age: fc.oneof(fc.integer({ min: 18, max: 60 }), fc.constantFrom('41', 25.5)),
    vip: fc.boolean(),
    tags: fc.subarray(['a', 'b', 'c']),
    orders: fc.array(fc.record({ ago: fc.integer({ min: 0, max: 3 * DAY }), price: fc.integer({ min: 0, max: 100 }) }), { maxLength: 4 }),
  },
  { requiredKeys: ['orders'] },
);

const condition = fc.oneof(
  fc.record({ field: fc.constantFrom(...FIELDS), op: fc.constantFrom('eq', 'ne'), value: scalar }),
  fc.record({ field: fc.constantFrom(...FIELDS), op: fc.constantFrom('gt', 'gte', 'lt', 'lte'), value: fc.constantFrom(...SCALARS.filter((v) => typeof v === 'number' || typeof v === 'string')) }),
  fc.record({ field: fc.constantFrom(...FIELDS), op: fc.constant('in'), value: fc.array(scalar, { minLength: 1, maxLength: 3 }) }),
  fc.record({ field: fc.constantFrom(...FIELDS), op: fc.constant('exists'), value: fc.boolean() }),
  fc.record({ field: fc.constantFrom(...FIELDS), op: fc.constant('contains'), value: fc.constantFrom('a', 'b', 'Li', 'o') }),
);

/** The reference: the value a field shows on a profile view. */
function shown(v: ProfileView, field: string): Json | undefined {
  if (field.startsWith('attributes.')) return v.attributes[field.slice(11)];
  if (field.startsWith('traits.')) return v.traits[field.slice(7)] as Json;
  return (v as unknown as Record<string, Json>)[field];
}

/** The reference semantics, written plainly. */
function holds(x: Json | undefined, op: string, value: Json): boolean {
  const none = (y: Json | undefined) => y === undefined || y === null;
  const eq = (a: Json | undefined, b: Json) => (none(a) && none(b)) || JSON.stringify(a) === JSON.stringify(b);
  if (op === 'eq') return eq(x, value);
  if (op === 'ne') return !eq(x, value);
  if (op === 'in') return (value as Json[]).some((y) => eq(x, y));
  if (op === 'exists') return !none(x) === value;
  if (op === 'contains') return Array.isArray(x) ? x.includes(value) : typeof x === 'string' && x.includes(value as string);
  if (typeof x !== typeof value || (typeof x !== 'number' && typeof x !== 'string')) return false;
  const [a, b] = [x as number | string, value as number | string];
  return op === 'gt' ? a > b : op === 'gte' ? a >= b : op === 'lt' ? a < b : a <= b;
}

describe('Portrait.searchProfiles, property', () => {
  it('equals filtering and sorting every profile in memory, across pages', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(person, { minLength: 1, maxLength: 20 }),
        fc.array(condition, { maxLength: 3 }),
        fc.option(fc.record({ field: fc.constantFrom(...FIELDS), order: fc.constantFrom('asc', 'desc') }), { nil: undefined }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 2 * DAY }),
        async (people, where, sort, limit, later) => {
          const { p, clock } = await open();
          try {
            await p.ingest(
              people.flatMap((x, i) => {
                const { orders, ...traits } = x;
                return [
                  { type: 'identify', userId: `u${i}`, traits, timestamp: T0 - 4 * DAY },
                  ...orders.map((o) => ({ type: 'track', userId: `u${i}`, event: 'Order Completed', properties: { price: o.price }, timestamp: T0 - o.ago })),
                ];
              }),
            );
            await p.drain();
            clock.advance(later);
            const views = await Promise.all(people.map(async (_, i) => (await p.profile('user_id', `u${i}`))!));
            const expected = views.filter((v) => where.every((c) => holds(shown(v, c.field), c.op, c.value as Json)));
            const sortField = sort?.field ?? 'id';
            const rank = (y: Json | undefined) => (y === undefined || y === null ? 4 : typeof y === 'number' ? 0 : typeof y === 'string' ? 1 : typeof y === 'boolean' ? 2 : 3);
            expected.sort((a, b) => {
              const [x, y] = [shown(a, sortField), shown(b, sortField)];
              const [rx, ry] = [rank(x), rank(y)];
              if (rx === 4 || ry === 4) {
                if (rx !== ry) return rx - ry;
              } else {
                // Lists and objects order by their JSON text.
                const [kx, ky] = rx === 3 ? [JSON.stringify(x), JSON.stringify(y)] : [x!, y!];
                const raw = rx !== ry ? rx - ry : kx < ky ? -1 : kx > ky ? 1 : 0;
                if (raw !== 0) return sort?.order === 'desc' ? -raw : raw;
              }
              return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
            });
            const got: ProfileView[] = [];
            let cursor: string | undefined;
            let pages = 0;
            do {
              const page = await p.searchProfiles({ where, sort, limit, cursor });
              assert.equal(page.total, expected.length, 'total equals the in-memory count');
              assert.ok(page.items.length <= limit, 'a page holds at most limit items');
              got.push(...page.items);
              cursor = page.next;
              assert.ok(++pages <= people.length + 1, 'paging ends');
            } while (cursor !== undefined);
            assert.deepEqual(got, expected, 'the pages together equal the in-memory result, in order');
          } finally {
            await p.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
