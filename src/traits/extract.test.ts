/** compileTrait: filters, and reading value, key and weight from an event. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PortraitEvent } from '../core/event.ts';
import { compileTrait, definitionHash, validateTraitDefinition } from './index.ts';

const T = Date.UTC(2024, 5, 1);
let n = 0;
function ev(partial: Partial<PortraitEvent> & Pick<PortraitEvent, 'type'>): PortraitEvent {
  return { workspace: 'w', messageId: `msg-${++n}`, userId: 'u1', timestamp: T, receivedAt: T + 5, ...partial };
}
const track = (event: string, properties: Record<string, unknown> = {}, extra: Partial<PortraitEvent> = {}) =>
  ev({ type: 'track', event, properties: properties as PortraitEvent['properties'], ...extra });
const compile = (def: Record<string, unknown>) => compileTrait(validateTraitDefinition({ name: 't', ...def }));
const matches = (def: Record<string, unknown>, e: PortraitEvent) => compile(def).input(e) !== undefined;

describe('compileTrait', () => {
  it('carries name, hash, definition and the aggregator; reads time, id and value', () => {
    const def = validateTraitDefinition({ name: 'revenue', kind: 'sum', value: 'properties.revenue' });
    const t = compileTrait(def);
    assert.equal(t.name, 'revenue');
    assert.equal(t.hash, definitionHash(def));
    assert.equal(t.definition, def);
    const e = track('Order Completed', { revenue: '12.5' }, { messageId: 'abc', timestamp: T + 7 });
    assert.deepEqual(t.input(e), { time: T + 7, id: 'abc', value: '12.5', key: undefined, weight: 1 });
    assert.equal(t.input(track('Order Completed'))!.value, undefined, 'absent value is undefined, the event still matches');
    assert.equal(t.aggregator.value(t.aggregator.add(t.aggregator.init(), t.input(e)!), T), 12.5);
  });

  it('filters by type, one or several', () => {
    assert.ok(matches({ kind: 'count', filter: { type: 'track' } }, track('A')), 'matches({ kind: \'count\', filter: { type: \'track\' } }, track(\'A\'))');
    assert.ok(!matches({ kind: 'count', filter: { type: 'track' } }, ev({ type: 'identify' })), '!matches({ kind: \'count\', filter: { type: \'track\' } }, ev({ type: \'ident...');
    assert.ok(matches({ kind: 'count', filter: { type: ['identify', 'group'] } }, ev({ type: 'group', groupId: 'g' })), 'matches({ kind: \'count\', filter: { type: [\'identify\', \'group\'] } }, ev(...');
    assert.ok(!matches({ kind: 'count', filter: { type: ['identify', 'group'] } }, ev({ type: 'page', name: 'Home' })), '!matches({ kind: \'count\', filter: { type: [\'identify\', \'group\'] } }, ev...');
    assert.ok(matches({ kind: 'count' }, ev({ type: 'alias', previousId: 'p' })), 'no filter matches everything');
  });

  it('filters by event name: the track event, or the page/screen name', () => {
    const def = { kind: 'count', filter: { event: ['Order Completed', 'Home'] } };
    assert.ok(matches(def, track('Order Completed')), 'matches(def, track(\'Order Completed\'))');
    assert.ok(!matches(def, track('Order Refunded')), '!matches(def, track(\'Order Refunded\'))');
    assert.ok(!matches(def, track('order completed')), 'names are case-sensitive');
    assert.ok(matches(def, ev({ type: 'page', name: 'Home' })), 'matches(def, ev({ type: \'page\', name: \'Home\' }))');
    assert.ok(matches(def, ev({ type: 'screen', name: 'Home' })), 'matches(def, ev({ type: \'screen\', name: \'Home\' }))');
    assert.ok(!matches(def, ev({ type: 'page', name: 'Pricing' })), '!matches(def, ev({ type: \'page\', name: \'Pricing\' }))');
    assert.ok(!matches(def, ev({ type: 'page' })), 'a page without a name');
    assert.ok(!matches(def, ev({ type: 'identify', traits: { event: 'Home' } })), '!matches(def, ev({ type: \'identify\', traits: { event: \'Home\' } }))');
    // A track event's name is `event`, not `name`.
    assert.ok(!matches(def, track('Other', {}, { name: 'Home' })), '!matches(def, track(\'Other\', {}, { name: \'Home\' }))');
    assert.ok(matches({ kind: 'count', filter: { type: 'page', event: 'Home' } }, ev({ type: 'page', name: 'Home' })), 'matches({ kind: \'count\', filter: { type: \'page\', event: \'Home\' } }, ev(...');
    assert.ok(!matches({ kind: 'count', filter: { type: 'screen', event: 'Home' } }, ev({ type: 'page', name: 'Home' })), '!matches({ kind: \'count\', filter: { type: \'screen\', event: \'Home\' } }, ...');
  });

  const where = (path: string, op: string, value?: unknown) => ({
    kind: 'count',
    filter: { where: [value === undefined ? { path, op } : { path, op, value }] },
  });
  const props = (p: Record<string, unknown>) => track('E', p);

  it('where eq / neq compare exactly, objects and arrays by content', () => {
    assert.ok(matches(where('properties.plan', 'eq', 'pro'), props({ plan: 'pro' })), 'matches(where(\'properties.plan\', \'eq\', \'pro\'), props({ plan: \'pro\' }))');
    assert.ok(!matches(where('properties.plan', 'eq', 'pro'), props({ plan: 'Pro' })), '!matches(where(\'properties.plan\', \'eq\', \'pro\'), props({ plan: \'Pro\' }))');
    assert.ok(!matches(where('properties.n', 'eq', 1), props({ n: '1' })), 'no coercion');
    assert.ok(matches(where('properties.n', 'eq', 1), props({ n: 1 })), 'matches(where(\'properties.n\', \'eq\', 1), props({ n: 1 }))');
    assert.ok(matches(where('properties.o', 'eq', { a: [1, 2] }), props({ o: { a: [1, 2] } })), 'matches(where(\'properties.o\', \'eq\', { a: [1, 2] }), props({ o: { a: [1, 2...');
    assert.ok(!matches(where('properties.o', 'eq', { a: [2, 1] }), props({ o: { a: [1, 2] } })), '!matches(where(\'properties.o\', \'eq\', { a: [2, 1] }), props({ o: { a: [1, ...');
    assert.ok(matches(where('properties.v', 'eq', null), props({ v: null })), 'matches(where(\'properties.v\', \'eq\', null), props({ v: null }))');
    assert.ok(!matches(where('properties.v', 'eq', null), props({})), '!matches(where(\'properties.v\', \'eq\', null), props({}))');
    assert.ok(matches(where('properties.plan', 'neq', 'pro'), props({ plan: 'free' })), 'matches(where(\'properties.plan\', \'neq\', \'pro\'), props({ plan: \'free\' }))');
    assert.ok(matches(where('properties.plan', 'neq', 'pro'), props({})), 'absent is not equal');
    assert.ok(!matches(where('properties.plan', 'neq', 'pro'), props({ plan: 'pro' })), '!matches(where(\'properties.plan\', \'neq\', \'pro\'), props({ plan: \'pro\' }))');
  });

  it('where gt / gte / lt / lte: numbers, numeric strings, strings; no match when incomparable', () => {
    const cases: Array<[string, unknown, unknown, boolean]> = [
      ['gt', 10, 9, true],
      ['gt', 9, 9, false],
      ['gte', 9, 9, true],
      ['gte', 8.999, 9, false],
      ['lt', -1, 0, true],
      ['lt', 0, 0, false],
      ['lte', 0, 0, true],
      ['lte', 0.5, 0, false],
      ['gt', '10', 9, true], // numeric string against a number: numeric
      ['gt', '10', '9', true], // two numeric strings: numeric, not lexicographic
      ['lt', 'apple', 'banana', true], // strings: lexicographic
      ['gt', 'apple', 'banana', false],
      ['gte', 'b', 'b', true],
      ['gt', 'abc', 1, false], // incomparable
      ['lt', 'abc', 1, false],
      ['gt', true, 0, false],
      ['gt', null, 0, false],
      ['lt', undefined, 0, false],
      ['gt', [5], 1, false],
    ];
    for (const [op, actual, bound, expected] of cases) {
      const p: Record<string, unknown> = actual === undefined ? {} : { x: actual };
      assert.equal(matches(where('properties.x', op, bound), props(p)), expected, `${JSON.stringify(actual)} ${op} ${JSON.stringify(bound)}`);
    }
  });

  it('where in / not_in', () => {
    assert.ok(matches(where('properties.c', 'in', ['a', 'b', 2]), props({ c: 'b' })), 'matches(where(\'properties.c\', \'in\', [\'a\', \'b\', 2]), props({ c: \'b\' }))');
    assert.ok(matches(where('properties.c', 'in', ['a', 'b', 2]), props({ c: 2 })), 'matches(where(\'properties.c\', \'in\', [\'a\', \'b\', 2]), props({ c: 2 }))');
    assert.ok(!matches(where('properties.c', 'in', ['a', 'b', 2]), props({ c: '2' })), '!matches(where(\'properties.c\', \'in\', [\'a\', \'b\', 2]), props({ c: \'2\'...');
    assert.ok(!matches(where('properties.c', 'in', ['a']), props({})), '!matches(where(\'properties.c\', \'in\', [\'a\']), props({}))');
    assert.ok(!matches(where('properties.c', 'in', []), props({ c: 'a' })), '!matches(where(\'properties.c\', \'in\', []), props({ c: \'a\' }))');
    assert.ok(matches(where('properties.c', 'in', [[1, 2]]), props({ c: [1, 2] })), 'matches(where(\'properties.c\', \'in\', [[1, 2]]), props({ c: [1, 2] }))');
    assert.ok(matches(where('properties.c', 'not_in', ['a', 'b']), props({ c: 'z' })), 'matches(where(\'properties.c\', \'not_in\', [\'a\', \'b\']), props({ c: \'z\'...');
    assert.ok(matches(where('properties.c', 'not_in', ['a', 'b']), props({})), 'matches(where(\'properties.c\', \'not_in\', [\'a\', \'b\']), props({}))');
    assert.ok(!matches(where('properties.c', 'not_in', ['a', 'b']), props({ c: 'a' })), '!matches(where(\'properties.c\', \'not_in\', [\'a\', \'b\']), props({ c: \'a\...');
    assert.ok(matches(where('properties.c', 'not_in', []), props({ c: 'a' })), 'matches(where(\'properties.c\', \'not_in\', []), props({ c: \'a\' }))');
  });

  it('where exists / not_exists: null counts as absent; falsy values exist', () => {
    for (const v of [0, '', false, [], {}]) {
      assert.ok(matches(where('properties.v', 'exists'), props({ v })), JSON.stringify(v));
      assert.ok(!matches(where('properties.v', 'not_exists'), props({ v })), JSON.stringify(v));
    }
    assert.ok(!matches(where('properties.v', 'exists'), props({ v: null })), '!matches(where(\'properties.v\', \'exists\'), props({ v: null }))');
    assert.ok(!matches(where('properties.v', 'exists'), props({})), '!matches(where(\'properties.v\', \'exists\'), props({}))');
    assert.ok(!matches(where('properties.v', 'exists'), ev({ type: 'track', event: 'E' })), 'no properties at all');
    assert.ok(matches(where('properties.v', 'not_exists'), props({ v: null })), 'matches(where(\'properties.v\', \'not_exists\'), props({ v: null }))');
    assert.ok(matches(where('properties.v', 'not_exists'), props({})), 'matches(where(\'properties.v\', \'not_exists\'), props({}))');
  });

  it('where contains: substring of a string, element of an array', () => {
    assert.ok(matches(where('properties.s', 'contains', 'ell'), props({ s: 'hello' })), 'matches(where(\'properties.s\', \'contains\', \'ell\'), props({ s: \'hello\' }))');
    assert.ok(!matches(where('properties.s', 'contains', 'xyz'), props({ s: 'hello' })), '!matches(where(\'properties.s\', \'contains\', \'xyz\'), props({ s: \'hello\'...');
    assert.ok(!matches(where('properties.s', 'contains', 1), props({ s: 'a1' })), 'a number is not a substring');
    assert.ok(matches(where('properties.tags', 'contains', 'vip'), props({ tags: ['new', 'vip'] })), 'matches(where(\'properties.tags\', \'contains\', \'vip\'), props({ tags: [\'n...');
    assert.ok(!matches(where('properties.tags', 'contains', 'vi'), props({ tags: ['new', 'vip'] })), 'elements match whole');
    assert.ok(matches(where('properties.tags', 'contains', { id: 1 }), props({ tags: [{ id: 1 }] })), 'matches(where(\'properties.tags\', \'contains\', { id: 1 }), props({ tags: [{...');
    assert.ok(!matches(where('properties.tags', 'contains', 'vip'), props({ tags: { vip: true } })), '!matches(where(\'properties.tags\', \'contains\', \'vip\'), props({ tags: { v...');
    assert.ok(!matches(where('properties.tags', 'contains', 'vip'), props({})), '!matches(where(\'properties.tags\', \'contains\', \'vip\'), props({}))');
  });

  it('where paths: nested, top-level, through non-objects; all conditions must hold', () => {
    assert.ok(matches(where('properties.a.b.c', 'eq', 1), props({ a: { b: { c: 1 } } })), 'matches(where(\'properties.a.b.c\', \'eq\', 1), props({ a: { b: { c: 1 } } }))');
    assert.ok(!matches(where('properties.a.b.c', 'exists'), props({ a: 'str' })), '!matches(where(\'properties.a.b.c\', \'exists\'), props({ a: \'str\' }))');
    assert.ok(!matches(where('properties.a.b.c', 'exists'), props({ a: null })), '!matches(where(\'properties.a.b.c\', \'exists\'), props({ a: null }))');
    assert.ok(matches(where('userId', 'eq', 'u1'), track('E')), 'matches(where(\'userId\', \'eq\', \'u1\'), track(\'E\'))');
    assert.ok(matches(where('context.locale', 'eq', 'fr'), track('E', {}, { context: { locale: 'fr' } })), 'matches(where(\'context.locale\', \'eq\', \'fr\'), track(\'E\', {}, { context...');
    const both = { kind: 'count', filter: { event: 'Buy', where: [{ path: 'properties.n', op: 'gt', value: 1 }, { path: 'properties.c', op: 'eq', value: 'x' }] } };
    assert.ok(matches(both, track('Buy', { n: 2, c: 'x' })), 'matches(both, track(\'Buy\', { n: 2, c: \'x\' }))');
    assert.ok(!matches(both, track('Buy', { n: 2, c: 'y' })), '!matches(both, track(\'Buy\', { n: 2, c: \'y\' }))');
    assert.ok(!matches(both, track('Buy', { n: 1, c: 'x' })), '!matches(both, track(\'Buy\', { n: 1, c: \'x\' }))');
    assert.ok(!matches(both, track('Sell', { n: 2, c: 'x' })), '!matches(both, track(\'Sell\', { n: 2, c: \'x\' }))');
  });

  it('paths read own properties only: prototype members are absent', () => {
    const t = compile({ kind: 'last', value: 'properties.constructor' });
    assert.equal(t.input(props({}))!.value, undefined);
    assert.equal(t.input(props({ constructor: 'set by the sender' }))!.value, 'set by the sender');
    assert.ok(!matches(where('properties.toString', 'exists'), props({})), '!matches(where(\'properties.toString\', \'exists\'), props({}))');
    assert.ok(!matches(where('properties.__proto__', 'exists'), props({})), '!matches(where(\'properties.__proto__\', \'exists\'), props({}))');
    assert.equal(compile({ kind: 'last', value: 'properties.items.1.sku' }).input(props({ items: [{ sku: 'a' }, { sku: 'b' }] }))!.value, 'b');
  });

  it('where eq on objects ignores key order', () => {
    assert.ok(matches(where('properties.o', 'eq', { a: 1, b: { c: 2, d: 3 } }), props({ o: { b: { d: 3, c: 2 }, a: 1 } })), 'matches(where(\'properties.o\', \'eq\', { a: 1, b: { c: 2, d: 3 } }), props({...');
    assert.ok(matches(where('properties.o', 'in', [{ a: 1, b: 2 }]), props({ o: { b: 2, a: 1 } })), 'matches(where(\'properties.o\', \'in\', [{ a: 1, b: 2 }]), props({ o: { b: 2,...');
  });

  it('reads the key as a string; an event without a key does not match', () => {
    const t = compile({ kind: 'top', key: 'properties.category' });
    assert.equal(t.input(props({ category: 'shoes' }))!.key, 'shoes');
    assert.equal(t.input(props({ category: 7 }))!.key, '7');
    assert.equal(t.input(props({ category: true }))!.key, 'true');
    assert.equal(t.input(props({ category: { a: 1 } }))!.key, '{"a":1}');
    assert.equal(t.input(props({})), undefined);
    assert.equal(t.input(props({ category: null })), undefined);
  });

  it('weights per event name (track event, page name); 1 otherwise', () => {
    const t = compile({ kind: 'decayed', key: 'properties.k', halfLife: '1d', weights: { 'Order Completed': 5, Home: 0.5, Zero: 0 } });
    assert.equal(t.input(track('Order Completed', { k: 'a' }))!.weight, 5);
    assert.equal(t.input(track('Zero', { k: 'a' }))!.weight, 0);
    assert.equal(t.input(track('Product Viewed', { k: 'a' }))!.weight, 1);
    assert.equal(t.input(ev({ type: 'page', name: 'Home', properties: { k: 'a' } }))!.weight, 0.5);
    assert.equal(t.input(ev({ type: 'identify', properties: { k: 'a' } }))!.weight, 1);
    const plain = compile({ kind: 'decayed', key: 'properties.k', halfLife: '1d' });
    assert.equal(plain.input(track('Order Completed', { k: 'a' }))!.weight, 1);
  });

  it('an event named like an Object.prototype member gets weight 1 and can be aggregated', () => {
    const t = compile({ kind: 'decayed', key: 'properties.k', halfLife: '1d', weights: { 'Order Completed': 5 } });
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const x = t.input(track(name, { k: 'a' }));
      assert.ok(x !== undefined, 'x !== undefined');
      assert.equal(x.weight, 1, name);
      assert.deepEqual(t.aggregator.value(t.aggregator.add(t.aggregator.init(), x), T), { a: 1 }, name);
    }
  });
});
