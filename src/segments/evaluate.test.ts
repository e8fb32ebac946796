import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DAY, HOUR } from '../core/clock.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { compileTrait, type TraitDefinition } from '../traits/index.ts';
import type { SegmentTrait } from './evaluate.ts';
import { windowNextChange } from './evaluate.ts';
import { parseCondition } from './parse.ts';
import { changedInput, SegmentSet } from './set.ts';

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

/** A profile whose `interest` (decayed, half-life one day) holds `w` for sports at T0. */
function sportsInterest(w: number): { traits: Map<string, SegmentTrait>; d: ProfileDoc } {
  const traits = traitsOf([{ name: 'interest', kind: 'decayed', key: 'properties.cat', halfLife: '1d', value: 'properties.w' } as TraitDefinition]);
  const t = traits.get('interest')!;
  const d = doc();
  const e = { type: 'track', event: 'Viewed', messageId: 'm1', timestamp: T0, properties: { cat: 'sports', w } };
  d.traits.interest = { h: t.runtime.hash, s: t.runtime.aggregator.add(t.runtime.aggregator.init(), t.runtime.input(e as never)!) };
  return { traits, d };
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
    // recencyDays is rounded to 2 decimals: it first reads 2 at 1.995 days after the order.
    assert.equal(r.next, T0 + 1.995 * DAY, 'the exact instant rfm recency reaches 2 days');
    assert.deepEqual([...s.evaluate(d, T0 + 1.995 * DAY - 1, traits, new Map()).members].sort(), ['books', 'recent', 'rich'], 'recent a millisecond before');
    assert.deepEqual([...s.evaluate(d, T0 + 1.995 * DAY, traits, new Map()).members].sort(), ['books', 'rich'], 'not recent at that instant');
  });

  it('finds the exact instant a decayed score crosses a threshold', () => {
    const { traits, d } = sportsInterest(8);
    const s = set({ fan: 'traits.interest.sports >= 1', cold: 'traits.interest.sports < 1', exact: 'traits.interest.sports = 8', other: 'traits.interest.music > 0' });
    const r = s.evaluate(d, T0, traits, new Map());
    assert.deepEqual([...r.members].sort(), ['exact', 'fan'], 'fan and exact at the event');
    // 8 halves to 1 after exactly 3 days; just after, it rounds below 1.
    const nextOf = (key: string, now: number) => s.evaluate(d, now, traits, new Map(), new Set([key])).next;
    assert.equal(nextOf('fan', T0), nextOf('cold', T0), 'a test and its negation change together');
    const at = nextOf('fan', T0);
    assert.ok(at > T0 + 3 * DAY && at < T0 + 3 * DAY + HOUR, `crossing shortly after 3 days, got T0 + ${(at - T0) / HOUR} h`);
    assert.deepEqual([...s.evaluate(d, at - 1, traits, new Map()).members].sort(), ['fan'], 'still a fan a millisecond before');
    assert.deepEqual([...s.evaluate(d, at, traits, new Map()).members].sort(), ['cold'], 'cold at the crossing');
    assert.equal(nextOf('other', T0), Infinity, 'a key the profile lacks never crosses above 0');
    assert.equal(nextOf('cold', at), Infinity, 'once below, a decaying score never comes back');
    // 8 at the event (rounded to 6 decimals): it stops being 8 the first millisecond it rounds below.
    const leaves = nextOf('exact', T0);
    assert.ok(leaves > T0 && leaves < T0 + HOUR, `leaves "= 8" within the hour, got T0 + ${leaves - T0} ms`);
    assert.deepEqual([...s.evaluate(d, leaves - 1, traits, new Map()).members].sort(), ['exact', 'fan'], 'still exactly 8 a millisecond before');
    assert.deepEqual([...s.evaluate(d, leaves, traits, new Map()).members].sort(), ['fan'], 'no longer 8 at that instant');
  });

  it('finds the exact instants an equality or membership test of a decaying score changes', () => {
    // 1 at T0, so 2^(-days): exactly 0.5 at one day, 0.25 at two days (both exact in six decimals).
    const { traits, d } = sportsInterest(1);
    const s = set({ half: 'traits.interest.sports = 0.5', nothalf: 'traits.interest.sports != 0.5', quarterish: 'traits.interest.sports in (0.25, 0.5, "x")', other: 'traits.interest.sports not in (0.25)' });
    const members = (now: number) => [...s.evaluate(d, now, traits, new Map()).members].sort();
    const nextOf = (key: string, now: number) => s.evaluate(d, now, traits, new Map(), new Set([key])).next;
    const enters = nextOf('half', T0);
    assert.equal(nextOf('nothalf', T0), enters, 'a test and its negation change together');
    assert.ok(enters < T0 + DAY && enters > T0 + DAY - HOUR, `reaches 0.5 (rounded) just before one day, got T0 + ${(enters - T0) / HOUR} h`);
    assert.deepEqual(members(enters - 1), ['nothalf', 'other'], 'not yet 0.5 a millisecond before');
    assert.deepEqual(members(enters), ['half', 'other', 'quarterish'], '0.5 from that instant');
    const leaves = nextOf('half', enters);
    assert.ok(leaves > T0 + DAY && leaves < T0 + DAY + HOUR, 'and stops being 0.5 just after one day');
    assert.deepEqual(members(leaves - 1), ['half', 'other', 'quarterish']);
    assert.deepEqual(members(leaves), ['nothalf', 'other']);
    const quarter = nextOf('quarterish', leaves);
    assert.ok(quarter > T0 + 2 * DAY - HOUR && quarter < T0 + 2 * DAY, 'in (...) next changes when it reaches 0.25');
    assert.deepEqual(members(quarter), ['nothalf', 'quarterish']);
    assert.equal(nextOf('quarterish', T0 + 30 * DAY), Infinity, 'below every literal: never again');
  });

  it('evaluates only the affected definitions and keeps the others', () => {
    const s = set({ a: 'attributes.city = "x"', b: 'event_count > 0', c: 'in_segment("a") and traits.t > 1' });
    assert.deepEqual([...s.affected(['attr:city'])].sort(), ['a', 'c'], 'c reads a, which reads city');
    assert.deepEqual([...s.affected(['activity'])], ['b'], 'activity');
    assert.deepEqual([...s.affected(['attr:other'])], [], 'nothing reads it');
    assert.deepEqual([...s.affected([changedInput('trait.t.a.b')])], ['c'], 'a change of one key of trait t (the key a.b) names the input trait:t');
    assert.equal(changedInput('trait.t'), 'trait:t');
    assert.equal(changedInput('attr.address.city'), 'attr:address.city', 'an attribute name keeps its dots');
    const r = s.evaluate(doc({ eventCount: 0 }), T0, new Map(), new Map([['b', T0]]), s.affected(['attr:city']));
    assert.deepEqual([...r.members], ['b'], 'b keeps its previous membership, not re-evaluated');
  });

  it('indexes scores by name: a changed score re-evaluates only the definitions reading it', () => {
    const s = set({ churning: 'score.churn >= 0.8', valuable: 'score.ltv > 100', both: 'in_segment("churning") and exists score.ltv', none: 'event_count > 0' });
    assert.deepEqual([...s.affected([changedInput('score.churn')])].sort(), ['both', 'churning'], 'the history key score.churn names the input score:churn');
    assert.deepEqual([...s.affected(['score:ltv'])].sort(), ['both', 'valuable'], 'ltv');
    assert.deepEqual([...s.affected(['score:other', 'trait:churn', 'attr:churn'])], [], 'another score, or a trait or attribute of the same name, is another input');
    const d = doc({ scores: { churn: { v: 0.9, t: T0, id: 'm' }, ltv: { v: 50, t: T0, id: 'm' } } });
    const r = s.evaluate(d, T0, new Map(), new Map());
    assert.deepEqual([...r.members].sort(), ['both', 'churning', 'none'], 'scores read as numbers');
    assert.equal(r.next, Infinity, 'scores do not change with time alone');
    assert.deepEqual(s.explain('churning', d, T0, new Map()), { condition: 'score.churn >= 0.8', held: true, ref: 'score.churn', value: 0.9 }, 'explain shows the score');
    assert.equal(s.evaluate(doc(), T0, new Map(), new Map(), new Set(['churning'])).members.size, 0, 'no score: every test of it is false');
  });
});

describe('tag tests', () => {
  /** Segments and tags from text: a tag with a null condition is manual. */
  const mixed = (segments: Record<string, string>, tags: Record<string, string | null>) =>
    new SegmentSet([
      ...Object.entries(segments).map(([name, c]) => ({ kind: 'segment' as const, def: { name, condition: parseCondition(c) } })),
      ...Object.entries(tags).map(([name, c]) => ({ kind: 'tag' as const, def: { name, condition: c === null ? null : parseCondition(c) } })),
    ]);
  const manual = (tags: Record<string, boolean>) => Object.fromEntries(Object.entries(tags).map(([n, on]) => [n, { on, t: T0, id: 'm' }]));

  it('a tag test holds for the tag and every tag below it, manual or rule-driven', () => {
    const s = mixed(
      { sporty: 'has_tag("interest/sports")', fan: 'has_tag("interest/sports/football")', any: 'has_tag("interest")', big: 'has_tag("value/high")' },
      { 'interest/sports/football': null, 'interest/sports/tennis': null, 'interest/music': null, 'value/high': 'event_count >= 3' },
    );
    const m = (d: ProfileDoc) => [...s.evaluate(d, T0, new Map(), new Map()).members].sort();
    assert.deepEqual(m(doc({ tags: manual({ 'interest/sports/football': true }) })), ['any', 'fan', 'sporty', 'tag:interest/sports/football'], 'a child tag counts for its parents');
    assert.deepEqual(m(doc({ tags: manual({ 'interest/music': true, 'interest/sports/football': false }) })), ['any', 'tag:interest/music'], 'an unset tag does not count; a sibling counts only for the common parent');
    assert.deepEqual(m(doc({ eventCount: 3 })), ['big', 'tag:value/high'], 'a rule tag is evaluated before the segment naming it');
    assert.deepEqual(m(doc()), [], 'no tag, no member');
  });

  it('a changed tag re-evaluates what names it, through rules and manual tags alike', () => {
    const s = mixed({ sporty: 'has_tag("interest/sports")', vip: 'has_tag("value")', other: 'event_count > 0' }, { 'interest/sports/football': null, 'value/high': 'traits.spent > 100', 'value/top': 'in_segment("other") and has_tag("interest")' });
    assert.deepEqual([...s.affected([changedInput('tag.interest/sports/football')])].sort(), ['sporty', 'tag:interest/sports/football', 'tag:value/top', 'vip'], 'the history key tag.<name> names the manual tag input; a rule tag reading it follows, and so does what reads that');
    assert.deepEqual([...s.affected(['trait:spent'])].sort(), ['tag:value/high', 'vip'], 'a rule tag passes on the inputs it reads');
    assert.deepEqual([...s.affected(['activity'])].sort(), ['other', 'tag:value/top', 'vip'], 'and those of the segments it names');
    // A partial evaluation reads the tags it does not evaluate from the previous memberships.
    const r = s.evaluate(doc(), T0, new Map(), new Map([['tag:interest/sports/football', T0]]), new Set(['sporty']));
    assert.deepEqual([...r.members].sort(), ['sporty', 'tag:interest/sports/football'], 'kept and read');
  });

  it('a segment naming a time-driven rule tag changes when the tag does', () => {
    const s = mixed({ lapsed: 'not has_tag("active")' }, { 'active/week': 'last_seen within 7 days' });
    const r = s.evaluate(doc(), T0, new Map(), new Map());
    assert.deepEqual([...r.members], ['tag:active/week'], 'active now');
    assert.equal(r.next, T0 + 7 * DAY, 'both change in seven days');
    assert.deepEqual([...s.evaluate(doc(), T0 + 7 * DAY, new Map(), new Map()).members], ['lapsed'], 'then the segment holds');
  });

  it('explain shows the tag test, the tags that made it hold, and when it changes', () => {
    const s = mixed({ sporty: 'has_tag("interest") and event_count > 0' }, { 'interest/sports': null, 'interest/recent': 'last_seen within 1 day' });
    const d = doc({ tags: manual({ 'interest/sports': true }) });
    assert.deepEqual(s.explain('sporty', d, T0, new Map()), {
      condition: 'has_tag("interest") and event_count > 0',
      held: true,
      children: [
        { condition: 'has_tag("interest")', held: true, value: ['interest/recent', 'interest/sports'], changesAt: new Date(T0 + DAY).toISOString() },
        { condition: 'event_count > 0', held: true, ref: 'event_count', value: 1 },
      ],
    }, 'held, with the covered tags held');
    const out = s.explain('sporty', doc(), T0 + 2 * DAY, new Map());
    assert.deepEqual(out.children![0], { condition: 'has_tag("interest")', held: false, value: [] }, 'not held: no tag below it');
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
