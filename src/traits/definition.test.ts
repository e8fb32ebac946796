/** Trait definitions: validation (every problem, with its path), the version hash and durations. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DAY, HOUR } from '../core/clock.ts';
import { isPortraitError, type PortraitError, type Problem } from '../core/errors.ts';
import { definitionHash, parseDuration, TRAIT_KINDS, validateTraitDefinition, type TraitDefinition } from './index.ts';

/** Runs validation, expecting PORTRAIT_CONFIG_INVALID; returns the problems. */
function problemsOf(raw: unknown, source?: string): Problem[] {
  let caught: unknown;
  try {
    validateTraitDefinition(raw, source);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected ${JSON.stringify(raw)} to be rejected`);
  assert.ok(isPortraitError(caught), 'a PortraitError');
  const e = caught as PortraitError;
  assert.equal(e.code, 'PORTRAIT_CONFIG_INVALID');
  assert.equal(e.status, 400);
  assert.ok(e.problems.length > 0, 'e.problems.length > 0');
  for (const p of e.problems) {
    assert.ok(p.path === '' || p.path.startsWith('/'), `path ${p.path}`);
    assert.ok(p.message.length > 0, 'p.message.length > 0');
    assert.ok(e.message.includes(`${p.path || '/'}: ${p.message}`), 'the message lists every problem');
  }
  return e.problems;
}

const paths = (ps: Problem[]) => [...new Set(ps.map((p) => p.path))].sort();
const find = (ps: Problem[], path: string) => ps.filter((p) => p.path === path).map((p) => p.message);

const VALID: Record<string, unknown>[] = [
  { name: 'events', kind: 'count' },
  { name: 'revenue', kind: 'sum', value: 'properties.revenue', filter: { type: 'track', event: 'Order Completed' } },
  { name: 'cheapest', kind: 'min', value: 'properties.price' },
  { name: 'priciest', kind: 'max', value: 'properties.price', description: 'most expensive item viewed' },
  { name: 'avg_order', kind: 'avg', value: 'properties.total', filter: { event: ['Order Completed', 'Order Updated'] } },
  { name: 'first_source', kind: 'first', value: 'context.campaign.source' },
  { name: 'last_plan', kind: 'last', value: 'traits.plan', filter: { type: ['identify', 'group'] } },
  { name: 'pages_seen', kind: 'distinct', value: 'name', filter: { type: 'page' }, exactLimit: 500 },
  { name: 'top_categories', kind: 'top', key: 'properties.category', k: 3 },
  { name: 'orders_7d', kind: 'window_count', window: '7d', bucket: 'day', filter: { event: 'Order Completed' } },
  { name: 'revenue_30d', kind: 'window_sum', value: 'properties.revenue', window: 2_592_000_000 },
  { name: 'interest', kind: 'decayed', key: 'properties.category', halfLife: '14d', weights: { 'Order Completed': 5, 'Product Viewed': 1 }, k: 10 },
  { name: 'rfm_2', kind: 'rfm', value: 'properties.revenue', purpose: 'marketing', filter: { where: [{ path: 'properties.revenue', op: 'gt', value: 0 }] } },
  {
    name: 'a',
    kind: 'count',
    filter: {
      where: [
        { path: 'properties.x', op: 'exists' },
        { path: 'properties.y', op: 'not_exists' },
        { path: 'properties.z', op: 'in', value: [1, 'a'] },
        { path: 'properties.z', op: 'not_in', value: [] },
        { path: 'properties.tags', op: 'contains', value: 'vip' },
        { path: 'properties.n', op: 'lte', value: '10' },
      ],
    },
  },
];

describe('validateTraitDefinition: accepts', () => {
  it('a valid definition of each of the 13 kinds, returning it unchanged', () => {
    const kinds = new Set<string>();
    for (const raw of VALID) {
      const copy = structuredClone(raw);
      const def = validateTraitDefinition(raw);
      assert.equal(def, raw);
      assert.deepEqual(raw, copy);
      kinds.add(def.kind);
    }
    assert.deepEqual([...kinds].sort(), [...TRAIT_KINDS].sort());
  });

  it('edge values: a 64-character name, durations in every unit and as milliseconds, hour/day buckets', () => {
    validateTraitDefinition({ name: 'a' + 'b'.repeat(63), kind: 'count' });
    for (const window of ['30s', '15m', '12h', '7d', '2w', '1.5h', ' 7d', '7d ', '7 d', 1]) validateTraitDefinition({ name: 'w', kind: 'window_count', window });
    for (const bucket of ['hour', 'day']) validateTraitDefinition({ name: 'w', kind: 'window_count', window: '1d', bucket });
    validateTraitDefinition({ name: 'd', kind: 'distinct', value: 'v', exactLimit: 1 });
    validateTraitDefinition({ name: 't', kind: 'top', key: 'k', k: 1000 });
  });
});

describe('validateTraitDefinition: rejects, listing every problem with its path', () => {
  it('an unknown kind, with the known kinds in the message', () => {
    const ps = problemsOf({ name: 'x', kind: 'median' });
    assert.deepEqual(paths(ps), ['/kind']);
    for (const k of TRAIT_KINDS) assert.ok(find(ps, '/kind')[0]!.includes(k), k);
  });

  it('bad names', () => {
    for (const name of ['Revenue', '1st', '_x', 'has-dash', 'has space', '', 'a' + 'b'.repeat(64), 42]) {
      assert.deepEqual(paths(problemsOf({ name, kind: 'count' })), ['/name'], JSON.stringify(name));
    }
    assert.deepEqual(problemsOf({ kind: 'count' }), [{ path: '/name', message: 'is required' }]);
  });

  it('unknown fields, at the top level, in the filter and in a condition', () => {
    const ps = problemsOf({ name: 'x', kind: 'count', colour: 'red', filter: { typ: 'track', where: [{ path: 'a', op: 'exists', extra: 1 }] } });
    assert.deepEqual(paths(ps), ['/colour', '/filter/typ', '/filter/where/0/extra']);
    for (const p of ps) assert.equal(p.message, 'is not a known field');
  });

  it('kinds that read a value, without one', () => {
    for (const kind of ['sum', 'min', 'max', 'avg', 'first', 'last', 'distinct', 'rfm']) {
      const ps = problemsOf({ name: 'x', kind });
      assert.deepEqual(ps, [{ path: '/value', message: `is required for a ${kind} trait` }]);
    }
  });

  it('top and decayed without a key; decayed without a half-life: both listed', () => {
    assert.deepEqual(problemsOf({ name: 'x', kind: 'top' }), [{ path: '/key', message: 'is required for a top trait' }]);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'decayed' })), ['/halfLife', '/key']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'decayed', key: 'k' })), ['/halfLife']);
  });

  it('window_count without a window; window_sum without a window or a value', () => {
    assert.deepEqual(problemsOf({ name: 'x', kind: 'window_count' }), [{ path: '/window', message: 'is required for a window_count trait' }]);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'window_sum' })), ['/value', '/window']);
  });

  it('bad durations', () => {
    for (const window of ['7 days', '7y', '7', '', 'd', '-1d', 0, -5, 1.5, '1e3s', true]) {
      assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'window_count', window })), ['/window'], JSON.stringify(window));
    }
    // Matches the schema pattern, but is zero: rejected by the duration reader.
    assert.deepEqual(problemsOf({ name: 'x', kind: 'window_count', window: '0d' }), [{ path: '/window', message: 'is not a valid duration' }]);
    assert.deepEqual(problemsOf({ name: 'x', kind: 'decayed', key: 'k', halfLife: '0.0001s' }), [{ path: '/halfLife', message: 'is not a valid duration' }]);
  });

  it('conditions: in/not_in without an array, value-taking ops without a value, unknown ops', () => {
    const ps = problemsOf({
      name: 'x',
      kind: 'count',
      filter: {
        where: [
          { path: 'p', op: 'in', value: 'a' },
          { path: 'p', op: 'eq' },
          { path: 'p', op: 'not_in' },
          { path: 'p', op: 'exists' },
          { path: 'p', op: 'contains' },
        ],
      },
    });
    assert.deepEqual(paths(ps), ['/filter/where/0/value', '/filter/where/1/value', '/filter/where/2/value', '/filter/where/4/value']);
    assert.deepEqual(find(ps, '/filter/where/0/value'), ['must be a list for op "in"']);
    assert.deepEqual(find(ps, '/filter/where/1/value'), ['is required for op "eq"']);
    assert.deepEqual(find(ps, '/filter/where/2/value').sort(), ['is required for op "not_in"', 'must be a list for op "not_in"']);
    assert.deepEqual(find(ps, '/filter/where/4/value'), ['is required for op "contains"']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'count', filter: { where: [{ path: 'p', op: 'like', value: 1 }] } })), ['/filter/where/0/op']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'count', filter: { where: [{ op: 'exists' }] } })), ['/filter/where/0/path']);
  });

  it('bad paths, filter types, k and exactLimit', () => {
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'sum', value: 'a..b' })), ['/value']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'top', key: '' })), ['/key']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'count', filter: { type: 'click' } })), ['/filter/type']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'count', filter: { event: [] } })), ['/filter/event']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'top', key: 'k', k: 0 })), ['/k']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'top', key: 'k', k: 1001 })), ['/k']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'distinct', value: 'v', exactLimit: 2.5 })), ['/exactLimit']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'window_count', window: '1d', bucket: 'week' })), ['/bucket']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'decayed', key: 'k', halfLife: '1d', weights: { a: 'heavy' } })), ['/weights/a']);
  });

  it('not an object', () => {
    for (const raw of [null, undefined, 'count', 3, [{ name: 'x', kind: 'count' }]]) assert.deepEqual(paths(problemsOf(raw)), [''], String(raw));
  });

  it('several schema problems at once', () => {
    const ps = problemsOf({
      name: 'Bad Name',
      kind: 'median',
      extra: true,
      window: '7 days',
      k: 0,
      filter: { type: 'bogus', where: [{ path: 'p', op: 'like' }] },
    });
    assert.deepEqual(paths(ps), ['/extra', '/filter/type', '/filter/where/0/op', '/k', '/kind', '/name', '/window']);
    // No duplicates.
    assert.equal(new Set(ps.map((p) => `${p.path} ${p.message}`)).size, ps.length);
  });

  it('several semantic problems at once', () => {
    const ps = problemsOf({ name: 'x', kind: 'window_sum', halfLife: '0s', filter: { where: [{ path: 'p', op: 'in', value: 1 }] } });
    assert.deepEqual(paths(ps), ['/filter/where/0/value', '/halfLife', '/value', '/window']);
  });

  it('schema problems and kind requirements together', () => {
    // A sum with a bad name and no value: both need fixing.
    assert.deepEqual(paths(problemsOf({ name: 'Revenue', kind: 'sum' })), ['/name', '/value']);
  });

  it('fields the kind does not read: each listed, since they would silently do nothing', () => {
    const ps = problemsOf({ name: 'x', kind: 'count', window: '7d', halfLife: '1d', value: 'v', key: 'k', k: 3, exactLimit: 5, weights: { a: 1 }, bucket: 'day' });
    assert.deepEqual(paths(ps), ['/bucket', '/exactLimit', '/halfLife', '/k', '/key', '/value', '/weights', '/window']);
    assert.deepEqual(find(ps, '/window'), ['is not used by a count trait (only by window_count, window_sum)']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'top', key: 'k', exactLimit: 5 })), ['/exactLimit']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'window_count', window: '1d', value: 'v' })), ['/value']);
    assert.deepEqual(paths(problemsOf({ name: 'x', kind: 'count', filter: { where: [{ path: 'p', op: 'exists', value: 1 }] } })), ['/filter/where/0/value']);
  });

  it('messages say what is expected, once per field', () => {
    const ps = problemsOf({ name: 'Bad', kind: 'median', window: 'soon', filter: { type: ['track', 'click'] }, bucket: 'week', k: 'three' });
    assert.deepEqual(ps, [
      { path: '/name', message: 'must be lower-case letters, digits and underscores, starting with a letter, at most 64 characters' },
      { path: '/kind', message: `must be one of: ${TRAIT_KINDS.join(', ')}` },
      { path: '/filter/type', message: 'must be a message type (track, identify, alias, group, page, screen) or a non-empty list of them' },
      { path: '/window', message: 'must be a duration such as "30m", "12h", "7d", "2w", or a whole number of milliseconds' },
      { path: '/bucket', message: 'must be one of: hour, day' },
      { path: '/k', message: 'must be an integer' },
    ]);
    assert.deepEqual(problemsOf(null), [{ path: '', message: 'must be an object' }]);
    assert.deepEqual(problemsOf({ name: 'x', kind: 'count', filter: { 'a/b~c': 1 } }), [{ path: '/filter/a~1b~0c', message: 'is not a known field' }]);
  });

  it('names the source in the message', () => {
    let message = '';
    try {
      validateTraitDefinition({ name: 'x', kind: 'sum' }, 'traits.yaml#revenue');
    } catch (e) {
      message = (e as Error).message;
    }
    assert.match(message, /traits\.yaml#revenue/);
    assert.match(message, /\/value: is required for a sum trait/);
  });
});

describe('definitionHash', () => {
  const def = validateTraitDefinition({
    name: 'interest',
    kind: 'decayed',
    key: 'properties.category',
    halfLife: '7d',
    weights: { a: 1, b: 2 },
    filter: { type: 'track', where: [{ path: 'properties.x', op: 'gt', value: 1 }] },
  });

  it('is 16 hex characters and stable under key order at every level', () => {
    const h = definitionHash(def);
    assert.match(h, /^[0-9a-f]{16}$/);
    const reordered = validateTraitDefinition({
      filter: { where: [{ value: 1, op: 'gt', path: 'properties.x' }], type: 'track' },
      weights: { b: 2, a: 1 },
      halfLife: '7d',
      key: 'properties.category',
      kind: 'decayed',
      name: 'interest',
    });
    assert.equal(definitionHash(reordered), h);
    assert.equal(definitionHash(structuredClone(def)), h);
  });

  it('changes when the content changes', () => {
    const h = definitionHash(def);
    const variants: TraitDefinition[] = [
      { ...def, name: 'interest2' },
      { ...def, halfLife: '14d' },
      { ...def, halfLife: '1w' },
      { ...def, weights: { a: 1, b: 3 } },
      { ...def, weights: { a: 1 } },
      { ...def, k: 3 },
      { ...def, description: 'x' },
      { ...def, filter: { type: 'track', where: [{ path: 'properties.x', op: 'gte', value: 1 }] } },
      { ...def, filter: { type: 'track', where: [{ path: 'properties.x', op: 'gt', value: '1' }] } },
      { ...def, filter: { type: ['track'], where: [{ path: 'properties.x', op: 'gt', value: 1 }] } },
      { ...def, kind: 'top' },
    ];
    const hashes = variants.map(definitionHash);
    for (const [i, x] of hashes.entries()) assert.notEqual(x, h, `variant ${i}`);
    assert.equal(new Set(hashes).size, hashes.length);
  });
});

describe('parseDuration', () => {
  it('reads every unit, decimals, spaces and milliseconds', () => {
    const cases: Array<[unknown, number]> = [
      ['30s', 30_000],
      ['30m', 30 * 60_000],
      ['12h', 12 * HOUR],
      ['7d', 7 * DAY],
      ['2w', 14 * DAY],
      ['1.5h', 90 * 60_000],
      ['0.5d', 12 * HOUR],
      ['  7d  ', 7 * DAY],
      ['7 d', 7 * DAY],
      ['0.001s', 1],
      ['007m', 7 * 60_000],
      [1, 1],
      [86_400_000, DAY],
    ];
    for (const [d, ms] of cases) assert.equal(parseDuration(d), ms, JSON.stringify(d));
  });

  it('returns undefined for what it cannot read', () => {
    for (const d of ['0d', '0s', '0.0001s', '-1d', '7', 'd', '7y', '7D', '7days', '1e3s', '.5h', '', '  ', 'NaN', 0, -1, 1.5, NaN, Infinity, null, undefined, {}, ['7d'], true]) {
      assert.equal(parseDuration(d), undefined, JSON.stringify(d) ?? String(d));
    }
  });
});
