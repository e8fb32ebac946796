import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PortraitError } from '../core/errors.ts';
import type { Condition, Literal } from './ast.ts';
import { checkCondition, readCondition } from './check.ts';
import { parseCondition } from './parse.ts';
import { printCondition } from './print.ts';
import { readDefinitions } from './set.ts';

function syntaxError(src: string): PortraitError {
  try {
    parseCondition(src);
  } catch (e) {
    assert.ok(e instanceof PortraitError, `a PortraitError for ${src}`);
    return e;
  }
  assert.fail(`"${src}" should not parse`);
}

describe('condition text form', () => {
  it('reads the issue examples into the JSON form', () => {
    assert.deepEqual(parseCondition('last_seen within 7 days and traits.orders_30d >= 3 and not (attributes.city in ("Beijing", "Shanghai"))'), {
      op: 'and',
      args: [
        { op: 'within', ref: 'last_seen', duration: '7d' },
        { op: 'gte', ref: 'traits.orders_30d', value: 3 },
        { op: 'not', arg: { op: 'in', ref: 'attributes.city', values: ['Beijing', 'Shanghai'] } },
      ],
    }, 'the example reads as and of three');
    assert.deepEqual(parseCondition('first_seen before 2026-01-01'), { op: 'before', ref: 'first_seen', time: '2026-01-01T00:00:00.000Z' }, 'a date is a UTC instant');
    assert.deepEqual(parseCondition('exists attributes.email_hash'), { op: 'exists', ref: 'attributes.email_hash' }, 'exists');
    assert.deepEqual(parseCondition('in_segment("vip") or last_seen older than 2 weeks'), {
      op: 'or',
      args: [{ op: 'in_segment', segment: 'vip' }, { op: 'older_than', ref: 'last_seen', duration: '2w' }],
    }, 'in_segment and older than');
    assert.deepEqual(parseCondition('attributes.plan not in ("free") and traits.top contains "books"'), {
      op: 'and',
      args: [{ op: 'not_in', ref: 'attributes.plan', values: ['free'] }, { op: 'contains', ref: 'traits.top', value: 'books' }],
    }, 'not in and contains');
  });

  it('reads has_tag("…") as a tag test', () => {
    assert.deepEqual(parseCondition('has_tag("value/high") and not has_tag("interest")'), {
      op: 'and',
      args: [{ op: 'has_tag', tag: 'value/high' }, { op: 'not', arg: { op: 'has_tag', tag: 'interest' } }],
    }, 'text form');
    assert.equal(printCondition({ op: 'has_tag', tag: 'interest/sports' }), 'has_tag("interest/sports")', 'printed back');
    assert.deepEqual(readCondition({ op: 'has_tag', tag: 'a/b' }), { op: 'has_tag', tag: 'a/b' }, 'JSON form');
    assert.throws(() => readCondition({ op: 'has_tag', tag: 'Bad Tag' }), (e: PortraitError) => e.code === 'PORTRAIT_SEGMENT_INVALID' && /\/condition\/tag/.test(e.message), 'a JSON tag name is checked with its path');
    const bad = syntaxError('event_count > 1 and has_tag("Interest/Sports")');
    assert.match(bad.message, /position 28 .*"Interest\/Sports" is not a tag name/, 'a bad tag name, with its position');
    assert.match(syntaxError('has_tag(value)').message, /expected a tag name in double quotes, found "value"/, 'unquoted');
    assert.match(syntaxError('has_tag("a/b"').message, /closing "\)"/, 'unclosed');
    assert.match(syntaxError('has_tag("a//b")').message, /not a tag name/, 'an empty level');
  });

  it('gives and precedence over or', () => {
    assert.deepEqual(parseCondition('event_count > 1 or event_count < 0 and exists attributes.a'), {
      op: 'or',
      args: [{ op: 'gt', ref: 'event_count', value: 1 }, { op: 'and', args: [{ op: 'lt', ref: 'event_count', value: 0 }, { op: 'exists', ref: 'attributes.a' }] }],
    }, 'a or (b and c)');
  });

  it('names the position and the reason of a syntax error', () => {
    const e = syntaxError('traits.orders_30d >= and last_seen within 7 days');
    assert.equal(e.code, 'PORTRAIT_SEGMENT_CONDITION_SYNTAX', 'code');
    assert.match(e.message, /position 21 \(line 1, column 22\)/, 'position of "and"');
    assert.match(e.message, /expected a value/, 'reason');
    assert.match(syntaxError('last_seen within 7 fortnights').message, /time unit/, 'unknown unit');
    assert.match(syntaxError('attributes.city in ("a", "b"').message, /closing "\)"/, 'unclosed list');
    assert.match(syntaxError('(event_count > 1').message, /closing "\)"/, 'unclosed group');
    assert.match(syntaxError('city = "x"').message, /not a profile input/, 'bare name');
    assert.match(syntaxError('attributes.city = "x').message, /not closed/, 'unclosed string');
    assert.match(syntaxError('event_count > 1 event_count').message, /position 16/, 'trailing input');
    assert.match(syntaxError('event_count # 1').message, /unexpected character "#"/, 'bad character');
    assert.match(syntaxError('').message, /position 0/, 'empty');
    assert.match(syntaxError('first_seen before 2026-13-45').message, /not a valid ISO 8601/, 'bad date');
    assert.match(syntaxError('last_seen\n  within x').message, /line 2, column 10/, 'line and column');
  });
});

describe('condition checks', () => {
  const ctx = {
    traits: new Map([['orders_30d', 'window_count'], ['last_product', 'last'], ['rfm', 'rfm']]),
    attributeTypes: { age: 'number', vip: 'boolean', city: 'string' },
    segments: new Set(['vip']),
    scores: new Set(['churn', 'ltv']),
  };
  const problems = (src: string) => checkCondition(parseCondition(src), ctx).map((p) => `${p.path} ${p.message}`);

  it('accepts sound conditions', () => {
    assert.deepEqual(problems('traits.orders_30d >= 3 and attributes.age > 30 and attributes.vip = true and in_segment("vip") and traits.rfm.recencyDays < 30'), [], 'no problems');
    assert.deepEqual(problems('attributes.signup within 30 days and traits.last_product = "x"'), [], 'unknown types are not errors');
  });

  it('reports unknown traits and segments and knowable type mismatches', () => {
    assert.match(problems('traits.nope > 1')[0]!, /unknown trait "nope"/, 'unknown trait');
    assert.match(problems('in_segment("ghost")')[0]!, /unknown segment "ghost"/, 'unknown segment');
    assert.match(problems('attributes.age = "thirty"')[0]!, /age is a number/, 'number vs string');
    assert.match(problems('traits.orders_30d in ("a")')[0]!, /can never equal/, 'in list type');
    assert.match(problems('event_count within 7 days')[0]!, /not a time/, 'within on a count');
    assert.match(problems('last_seen > 5')[0]!, /is a time/, 'comparing a time');
    assert.match(problems('attributes.vip > true')[0]!, /boolean/, 'ordering booleans');
    assert.match(problems('traits.orders_30d.x = 1')[0]!, /has no keys/, 'key of a number');
    assert.match(problems('traits.rfm.nope = 1')[0]!, /has the keys/, 'unknown rfm key');
    assert.deepEqual(problems('score.churn >= 0.8 and score.ltv in (1, 2) and exists score.churn'), [], 'declared scores are numbers');
    assert.deepEqual(problems('score.fraud > 0.5'), ['/ref unknown score "fraud" (declared: churn, ltv)'], 'an undeclared score, with its path');
    assert.deepEqual(checkCondition(parseCondition('score.churn > 1'), { ...ctx, scores: undefined }).map((p) => p.message), ['unknown score "churn" (no scores are declared; add it to scores in the configuration)'], 'none declared');
    assert.match(problems('score.churn = "high"')[0]!, /churn is a number/, 'a score compared with text');
    assert.match(problems('score.churn within 7 days')[0]!, /not a time/, 'a score is not a time');
    assert.match(problems('score.churn contains 1')[0]!, /"contains" needs a list or a string/, 'nor a list');
    assert.match(syntaxError('score.churn.x > 1').message, /"score.churn.x" is not a profile input/, 'a score has no keys');
  });

  it('rejects cycles between segments, naming them', () => {
    assert.throws(
      () => readDefinitions({ segments: [{ name: 'a', condition: 'in_segment("b")' }, { name: 'b', condition: 'in_segment("c")' }, { name: 'c', condition: 'in_segment("a")' }] }, { traits: new Map(), attributeTypes: {} }),
      (e: PortraitError) => e.code === 'PORTRAIT_SEGMENT_INVALID' && /a → b → c → a/.test(e.message),
      'a cycle is an error',
    );
    assert.throws(() => readDefinitions({ segments: [{ name: 'a', condition: 'in_segment("a")' }] }, { traits: new Map(), attributeTypes: {} }), /cycle/, 'self reference');
  });

  it('knows a tag when it or a tag below it is defined', () => {
    const tagCtx = { ...ctx, tags: new Set(['interest/sports/football', 'value/high']) };
    const tagProblems = (src: string) => checkCondition(parseCondition(src), tagCtx).map((p) => `${p.path} ${p.message}`);
    assert.deepEqual(tagProblems('has_tag("value/high") and has_tag("interest/sports") and has_tag("interest")'), [], 'a defined tag and the branches above one');
    assert.deepEqual(tagProblems('event_count > 1 and has_tag("interest/music")'), ['/args/1/tag unknown tag "interest/music": no tag of that name or below it is defined (defined: interest/sports/football, value/high)'], 'an unknown tag with its path');
    assert.match(tagProblems('has_tag("value/hi")')[0]!, /unknown tag "value\/hi"/, 'a prefix of a word is not a branch');
    assert.match(checkCondition(parseCondition('has_tag("a")'), ctx).map((p) => p.message)[0]!, /unknown tag "a"/, 'none defined');
    assert.throws(
      () => readDefinitions({ segments: [{ name: 's', condition: 'has_tag("nope")' }], tags: [{ name: 'x' }] }, { traits: new Map(), attributeTypes: {} }),
      (e: PortraitError) => e.code === 'PORTRAIT_SEGMENT_INVALID' && e.problems.some((p) => p.path === '/segments/0/condition/tag' && /unknown tag "nope"/.test(p.message)),
      'in a definition, with its path',
    );
    const ok = readDefinitions({ segments: [{ name: 's', condition: 'has_tag("x")' }], tags: [{ name: 'x/y' }, { name: 'z', condition: 'in_segment("s") and has_tag("x/y")' }] }, { traits: new Map(), attributeTypes: {} });
    assert.equal(ok.tags.length, 2, 'tags and segments may name each other without a cycle');
  });

  it('rejects cycles through tags like those between segments', () => {
    const none = { traits: new Map(), attributeTypes: {} };
    assert.throws(
      () => readDefinitions({ segments: [{ name: 'a', condition: 'has_tag("t")' }], tags: [{ name: 't', condition: 'in_segment("a")' }] }, none),
      (e: PortraitError) => e.code === 'PORTRAIT_SEGMENT_INVALID' && /segments and tags refer to each other in a cycle: a → tag:t → a/.test(e.message),
      'a tag rule naming a segment naming that tag',
    );
    assert.throws(
      () => readDefinitions({ segments: [{ name: 'a', condition: 'has_tag("t")' }], tags: [{ name: 't/u', condition: 'in_segment("a")' }] }, none),
      /cycle: a → tag:t\/u → a/,
      'through a parent tag covering the rule tag',
    );
    assert.throws(() => readDefinitions({ tags: [{ name: 't', condition: 'has_tag("t")' }] }, none), /cycle/, 'a tag naming itself');
    assert.equal(readDefinitions({ segments: [{ name: 'a', condition: 'has_tag("t")' }], tags: [{ name: 't' }, { name: 'u', condition: 'in_segment("a")' }] }, none).tags.length, 2, 'a manual tag names nothing: no cycle');
  });

  it('validates the JSON form with paths', () => {
    assert.throws(() => readCondition({ op: 'gt', ref: 'nope', value: 1 }), (e: PortraitError) => e.code === 'PORTRAIT_SEGMENT_INVALID' && /\/condition\/ref/.test(e.message), 'bad ref');
    assert.deepEqual(readCondition({ op: 'exists', ref: 'attributes.a' }), { op: 'exists', ref: 'attributes.a' }, 'a good one passes');
  });
});

describe('consent as a condition input', () => {
  const ctx = { traits: new Map<string, string>(), attributeTypes: {} };
  it('reads consent.<purpose> in both forms', () => {
    assert.deepEqual(parseCondition('consent.marketing = true and not consent.analytics = false'), {
      op: 'and',
      args: [{ op: 'eq', ref: 'consent.marketing', value: true }, { op: 'not', arg: { op: 'eq', ref: 'consent.analytics', value: false } }],
    }, 'text form');
    assert.equal(printCondition({ op: 'eq', ref: 'consent.marketing', value: true }), 'consent.marketing = true', 'printed back');
    assert.deepEqual(readCondition({ op: 'eq', ref: 'consent.marketing', value: true }), { op: 'eq', ref: 'consent.marketing', value: true }, 'JSON form');
    const ok = readDefinitions({ segments: [{ name: 'a', condition: 'consent.marketing = true', purpose: 'analytics' }] }, ctx);
    assert.deepEqual(ok.segments[0], { name: 'a', condition: { op: 'eq', ref: 'consent.marketing', value: true }, purpose: 'analytics' }, 'a segment with a purpose');
  });

  it('an unknown purpose or a non-boolean comparison is an error with its path', () => {
    assert.throws(
      () => readDefinitions({ segments: [{ name: 'a', condition: 'event_count > 1 and consent.newsletter = true' }] }, ctx),
      (e: PortraitError) => e.code === 'PORTRAIT_SEGMENT_INVALID' && e.problems.some((p) => p.path === '/segments/0/condition/args/1/ref' && /unknown purpose "newsletter"/.test(p.message)),
      'unknown purpose in a condition',
    );
    assert.throws(
      () => readDefinitions({ segments: [{ name: 'a', condition: 'consent.marketing = 1' }] }, ctx),
      (e: PortraitError) => e.problems.some((p) => p.path === '/segments/0/condition/value' && /boolean/.test(p.message)),
      'consent is a boolean',
    );
    assert.throws(
      () => readDefinitions({ segments: [{ name: 'a', condition: 'event_count > 1', purpose: 'newsletter' }] }, ctx),
      (e: PortraitError) => e.problems.some((p) => p.path === '/segments/0/purpose' && /unknown purpose/.test(p.message)),
      'unknown purpose of a segment',
    );
    assert.equal(readDefinitions({ tags: [{ name: 'manual', purpose: 'marketing' }] }, ctx).tags[0]!.purpose, 'marketing', 'a manual tag may serve a purpose');
    assert.throws(
      () => readDefinitions({ tags: [{ name: 'manual', purpose: 'astrology' }] }, ctx),
      (e: PortraitError) => e.problems.some((p) => p.path === '/tags/0/purpose' && /unknown purpose/.test(p.message)),
      'but a known one',
    );
    const custom = { ...ctx, purposes: new Set(['newsletter']) };
    assert.equal(readDefinitions({ segments: [{ name: 'a', condition: 'consent.newsletter = true' }] }, custom).segments.length, 1, 'configured purposes are known');
  });
});

// Random conditions over the whole language.
const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);
const attr = fc.stringMatching(/^[A-Za-z_$][A-Za-z0-9_$]{0,6}$/);
const ref = fc.oneof(
  fc.constantFrom('last_seen', 'first_seen', 'event_count'),
  name.filter((n) => n.length > 0).map((n) => `traits.${n}`),
  name.map((n) => `consent.${n}`),
  name.map((n) => `score.${n}`),
  fc.tuple(attr, fc.option(fc.stringMatching(/^[A-Za-z0-9_$]{1,5}$/), { nil: undefined })).map(([a, k]) => (k === undefined ? `attributes.${a}` : `attributes.${a}.${k}`)),
);
const literal: fc.Arbitrary<Literal> = fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? 0 : d)), fc.integer(), fc.boolean(), fc.constant(null));
const leaf: fc.Arbitrary<Condition> = fc.oneof(
  fc.record({ op: fc.constantFrom('eq', 'neq', 'gt', 'gte', 'lt', 'lte' as const), ref, value: literal }),
  fc.record({ op: fc.constantFrom('in', 'not_in' as const), ref, values: fc.array(literal, { minLength: 1, maxLength: 3 }) }),
  fc.record({ op: fc.constant('contains' as const), ref, value: literal }),
  fc.record({ op: fc.constant('exists' as const), ref }),
  fc.record({ op: fc.constantFrom('within', 'older_than' as const), ref, duration: fc.tuple(fc.integer({ min: 0, max: 99999 }), fc.constantFrom('s', 'm', 'h', 'd', 'w')).map(([n, u]) => `${n}${u}`) }),
  fc.record({ op: fc.constantFrom('before', 'after' as const), ref, time: fc.integer({ min: 0, max: 4_102_444_800_000 }).map((t) => new Date(t).toISOString()) }),
  fc.record({ op: fc.constant('in_segment' as const), segment: name }),
  fc.record({ op: fc.constant('has_tag' as const), tag: fc.array(fc.stringMatching(/^[a-z0-9_]{1,6}$/), { minLength: 1, maxLength: 4 }).map((w) => w.join('/')) }),
) as fc.Arbitrary<Condition>;
// fast-check builds null-prototype records: compare plain JSON.
const tree: fc.Arbitrary<Condition> = fc.letrec<{ c: Condition }>((tie) => ({
  c: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.record({ op: fc.constantFrom('and', 'or' as const), args: fc.array(tie('c'), { minLength: 2, maxLength: 3 }) }),
    fc.record({ op: fc.constant('not' as const), arg: tie('c') }),
  ) as fc.Arbitrary<Condition>,
})).c;
const condition = tree.map((c) => JSON.parse(JSON.stringify(c)) as Condition);

describe('text and JSON round-trip', () => {
  it('JSON → text → JSON is the identity for random conditions', () => {
    fc.assert(
      fc.property(condition, (c) => {
        assert.deepEqual(parseCondition(printCondition(c)), c, `round trip of ${printCondition(c)}`);
        assert.deepEqual(readCondition(c), c, 'the JSON schema accepts every printed form');
      }),
      { numRuns: 500 },
    );
  });

  it('print(parse(text)) reparses to the same JSON', () => {
    const texts = [
      'last_seen within 7 days and traits.orders_30d >= 3 and not (attributes.city in ("Beijing", "Shanghai"))',
      'first_seen before 2026-01-01T08:30+08:00 or (exists attributes.email_hash and in_segment("vip"))',
      'has_tag("interest/sports") and not (has_tag("value/high") or in_segment("vip"))',
      'not not attributes.x != -1.5e3 and (event_count < 10 or event_count > 100 or attributes.t older than 36 hours)',
    ];
    for (const t of texts) {
      const once = parseCondition(t);
      assert.deepEqual(parseCondition(printCondition(once)), once, `stable: ${t}`);
    }
  });
});
