import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DAY, HOUR } from '../core/clock.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { compileTrait, type TraitDefinition } from '../traits/index.ts';
import type { SegmentTrait } from './evaluate.ts';
import { windowNextChange } from './evaluate.ts';
import { parseCondition } from './parse.ts';
import { SegmentSet } from './set.ts';

const T0 = Date.UTC(2026, 0, 10);

function traitsOf(defs: TraitDefinition[]): Map<string, SegmentTrait> {
  return new Map(defs.map((d) => {
    const c = compileTrait(d);
    return [d.name, { runtime: { name: c.name, hash: c.hash, aggregator: c.aggregator, input: c.input }, kind: d.kind, window: d.window, bucket: d.bucket }];
  }));
}

function doc(over: Partial<ProfileDoc> = {}): ProfileDoc {
  return { ...emptyProfile('p1', 'w', 'user', 1), eventCount: 1, firstSeen: T0, lastSeen: T0, ...over };
}

const set = (defs: Record<string, string>) => new SegmentSet(Object.entries(defs).map(([name, c]) => ({ kind: 'segment' as const, def: { name, condition: parseCondition(c) } })));

describe('evaluation', () => {
  it('within holds until exactly the duration has passed, and says when it changes', () => {
    const s = set({ active: 'last_seen within 7 days', old: 'last_seen older than 7 days' });
    const at = (now: number) => s.evaluate(doc(), now, new Map(), new Map());
    assert.deepEqual([...at(T0 + 7 * DAY - 1).members], ['active'], 'active a millisecond before');
    assert.equal(at(T0 + 7 * DAY - 1).next, T0 + 7 * DAY, 'changes at 7 days');
    assert.deepEqual([...at(T0 + 7 * DAY).members], ['old'], 'old at 7 days');
    assert.equal(at(T0 + 7 * DAY).next, Infinity, 'nothing changes after');
  });

  it('a missing input makes every test of it false', () => {
    const s = set({ a: 'attributes.city = "x"', b: 'attributes.city != "x"', c: 'not (attributes.city = "x")', d: 'attributes.city not in ("x")' });
    assert.deepEqual([...s.evaluate(doc(), T0, new Map(), new Map()).members], ['c'], 'only the negation holds');
  });

  it('reads traits at now, nested keys, and top-k keys with contains', () => {
    const defs: TraitDefinition[] = [
      { name: 'views', kind: 'top', key: 'properties.cat' } as TraitDefinition,
      { name: 'rfm', kind: 'rfm', value: 'properties.price', filter: { event: 'Order Completed' } } as TraitDefinition,
    ];
    const traits = traitsOf(defs);
    const d = doc();
    for (const [name, t] of traits) {
      const e = { type: 'track', event: 'Order Completed', messageId: name, timestamp: T0, properties: { cat: 'books', price: 20 } };
      const input = t.runtime.input(e as never);
      d.traits[name] = { h: t.runtime.hash, s: t.runtime.aggregator.add(t.runtime.aggregator.init(), input!) };
    }
    const s = set({ books: 'traits.views contains "books"', recent: 'traits.rfm.recencyDays < 2', rich: 'traits.rfm.monetary >= 20' });
    const r = s.evaluate(d, T0 + DAY, traits, new Map());
    assert.deepEqual([...r.members].sort(), ['books', 'recent', 'rich'], 'all three hold');
    assert.equal(r.next, T0 + DAY + HOUR, 'rfm recency is re-checked within the hour');
  });

  it('evaluates only the affected definitions and keeps the others', () => {
    const s = set({ a: 'attributes.city = "x"', b: 'event_count > 0', c: 'in_segment("a") and traits.t > 1' });
    assert.deepEqual([...s.affected(['attr:city'])].sort(), ['a', 'c'], 'c reads a, which reads city');
    assert.deepEqual([...s.affected(['activity'])], ['b'], 'activity');
    assert.deepEqual([...s.affected(['attr:other'])], [], 'nothing reads it');
    const r = s.evaluate(doc({ eventCount: 0 }), T0, new Map(), new Map([['b', T0]]), s.affected(['attr:city']));
    assert.deepEqual([...r.members], ['b'], 'b keeps its previous membership, not re-evaluated');
  });
});

describe('window traits change at bucket boundaries', () => {
  it('gives the instant the next bucket enters or leaves', () => {
    const hour = HOUR;
    const s = { b: [[10, 1], [12, 1], [30, 1]] as Array<[number, unknown]> };
    // Window 5 h: bucket 10 leaves at 11 h + 5 h = 16 h; bucket 30 enters at 30 h.
    assert.equal(windowNextChange(s, 5 * hour, hour, 12 * hour), 16 * hour, 'the oldest bucket leaves first');
    assert.equal(windowNextChange(s, 5 * hour, hour, 18 * hour), 30 * hour, 'then the future bucket enters');
    assert.equal(windowNextChange(s, 5 * hour, hour, 31 * hour), 36 * hour, 'then it leaves');
    assert.equal(windowNextChange(s, 5 * hour, hour, 36 * hour), Infinity, 'then nothing');
  });
});
