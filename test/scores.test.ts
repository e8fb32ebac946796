/**
 * Scores (model outputs computed outside Portrait) as profile inputs: sent
 * in context.scores or over the API, folded from the log (latest by event
 * time), gated by consent when purpose-bound, and read by segments, search,
 * history, the profile as of a time and the export.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/server/app.ts';
import { caller, errorCode } from './support/http.ts';
import { errorOf } from './support/errors.ts';
import { ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { openMemory, T0, tempDir } from './support/open.ts';

const CONFIG = {
  scores: [
    { name: 'churn', description: 'Probability of leaving within 30 days', min: 0, max: 1 },
    { name: 'ltv', min: 0 },
    { name: 'mkt_propensity', min: 0, max: 1, purpose: 'marketing' },
  ],
  segments: [
    { name: 'churning', condition: 'score.churn >= 0.8' },
    { name: 'valuable', condition: 'exists score.ltv and score.ltv > 100' },
    { name: 'promo_target', condition: 'score.mkt_propensity > 0.5' },
  ],
};

const withScores = (userId: string, t: number, id: string, scores: unknown, extra: Record<string, unknown> = {}) => ({
  type: 'track',
  userId,
  event: 'Scored',
  messageId: id,
  timestamp: t,
  context: { scores },
  ...extra,
});

const open = () => openMemory({ scores: [...CONFIG.scores], segments: [...CONFIG.segments] });

describe('scores as profile inputs', () => {
  it('a score sent in context.scores reaches the profile, its history, segments (segment.entered) and explain', async () => {
    const { p } = await open();
    try {
      await p.ingest([withScores('u1', T0, 's1', { churn: 0.42, ltv: { value: 250, model: 'ltv-v2' } })]);
      await p.drain();
      const v = (await p.profile('user_id', 'u1'))!;
      assert.deepEqual(v.scores, {
        churn: { value: 0.42, time: new Date(T0).toISOString(), messageId: 's1' },
        ltv: { value: 250, time: new Date(T0).toISOString(), messageId: 's1', model: 'ltv-v2' },
      }, 'both scores with time, message and model');
      assert.deepEqual(await p.scores('user_id', 'u1'), { profileId: v.id, scores: v.scores }, 'the scores read');
      assert.deepEqual((await p.segments.ofProfile(v)).segments.map((s) => s.name), ['valuable'], 'ltv > 100 makes the profile valuable; churn 0.42 is below 0.8');

      await p.ingest([withScores('u1', T0 + 1000, 's2', { churn: 0.91 })]);
      await p.drain();
      const entered = (await p.segments.outbox({ limit: 100 })).filter((o) => o.kind === 'segment.entered').map((o) => (o.payload as { segment: string }).segment);
      assert.deepEqual(entered.sort(), ['churning', 'valuable'], 'the new churn score makes the profile enter churning');
      const history = await p.history('user_id', 'u1');
      assert.deepEqual(history.map((h) => h.changes['score.churn']), [[0.42, 0.91], [null, 0.42]], 'score changes are in the history, newest first (no value before: null)');
      const x = await p.segments.explain('segment', 'churning', 'user_id', 'u1');
      assert.equal(x.member, true, 'a member');
      assert.deepEqual({ ref: x.explanation.ref, value: x.explanation.value, held: x.explanation.held }, { ref: 'score.churn', value: 0.91, held: true }, 'explain shows the score');
    } finally {
      await p.close();
    }
  });

  it('latest by event time then messageId: a late older score never overwrites a newer one, in any order', async () => {
    const msgs = [withScores('u1', T0 + 2000, 'b', { churn: 0.2 }), withScores('u1', T0 + 1000, 'z', { churn: 0.9 }), withScores('u1', T0 + 2000, 'a', { churn: 0.5 })];
    const results: unknown[] = [];
    for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0]]) {
      const { p } = await open();
      try {
        for (const i of order) await p.ingest([msgs[i]]);
        await p.drain();
        results.push((await p.profile('user_id', 'u1'))!.scores);
      } finally {
        await p.close();
      }
    }
    assert.equal((results[0] as { churn: { value: number } }).churn.value, 0.2, 'the latest (same time, larger messageId) wins');
    assert.deepEqual(results[1], results[0], 'reverse arrival gives the same');
    assert.deepEqual(results[2], results[0], 'another arrival gives the same');
  });

  it('the API records scores as a logged identify that a rebuild repeats; GET reads them', async () => {
    const { p } = await open();
    try {
      const r = await p.setScores('user_id', 'u1', { churn: 0.85, ltv: { value: 10, model: 'ltv-v2' } });
      assert.match(r.messageId, /^scores-/, 'the appended message id');
      assert.deepEqual(r.scores, { churn: { value: 0.85 }, ltv: { value: 10, model: 'ltv-v2' } }, 'what was recorded');
      await p.drain();
      const before = (await p.profile('user_id', 'u1'))!;
      assert.equal(before.scores.churn!.messageId, r.messageId, 'carried by the appended event');
      assert.ok((await p.events('user_id', 'u1')).events.some((e) => e.record.messageId === r.messageId), 'the scores are in the event log');
      const dump = await p.stateDump();
      await p.rebuild();
      assert.deepEqual(await p.stateDump(), dump, 'a rebuild gives the same state');
      assert.deepEqual((await p.profile('user_id', 'u1'))!.scores, before.scores, 'a rebuild repeats them');
      const byProfile = await p.setScores('profile_id', before.id, { churn: 0.1 });
      await p.drain();
      assert.equal((await p.profile('user_id', 'u1'))!.scores.churn!.messageId, byProfile.messageId, 'recorded by profile id under its user id');
    } finally {
      await p.close();
    }
  });

  it('bad scores in messages are quarantined naming the score; the rest of the batch is kept', async () => {
    const { p } = await open();
    try {
      const r = await p.ingest([
        withScores('u1', T0, 'ok', { churn: 0.3 }),
        withScores('u1', T0 + 1, 'text', { churn: 'high' }),
        withScores('u1', T0 + 2, 'nan', { churn: Number.NaN }),
        withScores('u1', T0 + 3, 'inf', { ltv: { value: Number.POSITIVE_INFINITY } }),
        withScores('u1', T0 + 4, 'range', { churn: 1.5 }),
        withScores('u1', T0 + 5, 'unknown', { fraud: 0.1 }),
        withScores('u1', T0 + 6, 'model', { churn: { value: 0.2, model: 7 } }),
        withScores('u1', T0 + 7, 'shape', [0.2]),
        withScores('u1', T0 + 8, 'extra', { churn: { value: 0.2, version: 3 } }),
      ]);
      assert.equal(r.accepted, 1, 'the good message is accepted');
      assert.equal(r.quarantined, 8, 'every bad one is quarantined');
      const problems = r.outcomes.slice(1).map((o) => (o.status === 'quarantined' ? o.problems : []));
      assert.deepEqual(problems.map((ps) => ps.map((x) => x.path)), [
        ['/context/scores/churn'], ['/context/scores/churn'], ['/context/scores/ltv'], ['/context/scores/churn'], ['/context/scores/fraud'], ['/context/scores/churn'], ['/context/scores'], ['/context/scores/churn'],
      ], 'each problem names the score');
      assert.match(problems[0]![0]!.message, /score "churn" must be a finite number/, 'not a number');
      assert.match(problems[1]![0]!.message, /finite number.*not NaN/, 'NaN');
      assert.match(problems[3]![0]!.message, /score "churn" is 1.5, outside its declared range \[0, 1\]/, 'out of range');
      assert.match(problems[4]![0]!.message, /score "fraud" is not declared \(declared: churn, ltv, mkt_propensity/, 'unknown name');
      assert.match(problems[5]![0]!.message, /model must be a non-empty string/, 'a bad model');
      const q = await p.quarantined();
      assert.equal(q.length, 8, 'kept in quarantine with their raw payloads');
      await p.drain();
      assert.deepEqual(Object.keys((await p.profile('user_id', 'u1'))!.scores), ['churn'], 'only the good score applied');
      assert.equal((await p.profile('user_id', 'u1'))!.scores.churn!.value, 0.3, 'with its value');
    } finally {
      await p.close();
    }
  });

  it('without declared scores, a message carrying one is quarantined rather than silently dropped', async () => {
    const { p } = await openMemory();
    try {
      const r = await p.ingest([withScores('u1', T0, 'x', { churn: 0.3 })]);
      assert.equal(r.quarantined, 1, 'quarantined');
      assert.match(r.outcomes[0]!.status === 'quarantined' ? r.outcomes[0]!.problems[0]!.message : '', /no scores are declared/, 'says none are declared');
      // The batch context carries scores to every message of the batch, and is checked for each.
      const b = await p.ingestBatch({ batch: [{ type: 'track', userId: 'u2', event: 'E' }], context: { scores: { churn: 1 } } });
      assert.equal(b.quarantined, 1, 'a batch context score is checked too');
    } finally {
      await p.close();
    }
  });

  it('bad scores over the API are a 400 listing every problem; nothing is appended', async () => {
    const { p } = await open();
    try {
      const e = await errorOf(() => p.setScores('user_id', 'u1', { churn: 2, fraud: 1, ltv: 'x' }));
      assert.equal(e.code, 'PORTRAIT_SCORES_INVALID', 'code');
      assert.equal(e.status, 400, 'a 400');
      assert.deepEqual(e.problems.map((x) => x.path), ['/churn', '/fraud', '/ltv'], 'every problem with its path');
      assert.equal((await errorOf(() => p.setScores('user_id', 'u1', {}))).code, 'PORTRAIT_SCORES_INVALID', 'an empty body is refused');
      assert.equal((await errorOf(() => p.setScores('user_id', 'u1', [1]))).code, 'PORTRAIT_SCORES_INVALID', 'a list is refused');
      assert.equal((await errorOf(() => p.setScores('email', 'x@y.org', { churn: 0.1 }))).code, 'PORTRAIT_PROFILE_NOT_FOUND', 'an unknown profile by email is a 404');
      assert.equal((await errorOf(() => p.scores('user_id', 'u1'))).code, 'PORTRAIT_PROFILE_NOT_FOUND', 'reading an unknown profile is a 404');
      await p.drain();
      assert.equal(await p.profile('user_id', 'u1'), undefined, 'a refused call appends nothing');
    } finally {
      await p.close();
    }
  });

  it('merging two profiles keeps the later score of each name', async () => {
    const { p } = await open();
    try {
      await p.ingest([
        { type: 'track', anonymousId: 'a1', event: 'Scored', messageId: 'm1', timestamp: T0 + 5000, context: { scores: { churn: 0.7, ltv: 1 } } },
        withScores('u1', T0 + 1000, 'm2', { churn: 0.1, ltv: 5 }),
        withScores('u1', T0 + 9000, 'm3', { ltv: 50 }),
      ]);
      await p.drain();
      await p.ingest([{ type: 'identify', userId: 'u1', anonymousId: 'a1', messageId: 'link', timestamp: T0 + 10_000 }]);
      await p.drain();
      const v = (await p.profile('anonymous_id', 'a1'))!;
      assert.equal(v.identities.userIds[0], 'u1', 'merged');
      assert.deepEqual(Object.fromEntries(Object.entries(v.scores).map(([k, s]) => [k, s.value])), { churn: 0.7, ltv: 50 }, 'the later score of each name');
      const dump = await p.stateDump();
      await p.rebuild();
      assert.deepEqual(await p.stateDump(), dump, 'a rebuild gives the same state');
    } finally {
      await p.close();
    }
  });

  it('a purpose-bound score applies only while its consent is granted; a withdrawal removes it', async () => {
    const { p } = await open();
    try {
      await p.ingest([withScores('u1', T0 - 1000, 's1', { mkt_propensity: 0.9, churn: 0.5 })]);
      await p.drain();
      assert.deepEqual(Object.keys((await p.profile('user_id', 'u1'))!.scores), ['churn'], 'without consent the purpose-bound score is not applied');
      await p.setConsent('user_id', 'u1', { marketing: true });
      await p.drain();
      assert.equal((await p.profile('user_id', 'u1'))!.scores.mkt_propensity, undefined, 'a grant dated after the score does not apply it (it counts from the grant)');
      await p.ingest([withScores('u1', T0 + 1, 's2', { mkt_propensity: 0.8 })]);
      await p.drain();
      // The grant is stamped by the (manual) clock at T0: the score at T0 + 1 is covered.
      assert.equal((await p.profile('user_id', 'u1'))!.scores.mkt_propensity!.value, 0.8, 'applied once consent is granted');
      assert.deepEqual((await p.segments.ofProfile((await p.profile('user_id', 'u1'))!)).segments.map((s) => s.name), ['promo_target'], 'and read by segments');
      await p.setConsent('user_id', 'u1', { marketing: false });
      await p.drain();
      const v = (await p.profile('user_id', 'u1'))!;
      assert.deepEqual(Object.keys(v.scores), ['churn'], 'a withdrawal removes the purpose-bound score');
      assert.deepEqual((await p.segments.ofProfile(v)).segments, [], 'and the profile leaves the segment');
      const dump = await p.stateDump();
      await p.rebuild();
      assert.deepEqual(await p.stateDump(), dump, 'a rebuild gives the same state');
    } finally {
      await p.close();
    }
  });

  it('the profile as of a past time, search and the export show scores', async () => {
    const { p } = await open();
    try {
      await p.ingest([withScores('u1', T0, 's1', { churn: 0.2 }), withScores('u1', T0 + 5000, 's2', { churn: 0.95 }), withScores('u2', T0, 's3', { churn: 0.5 })]);
      await p.drain();
      assert.equal((await p.profile('user_id', 'u1', { at: T0 + 1000 }))!.scores.churn!.value, 0.2, 'as of T0 + 1s');
      assert.equal((await p.profile('user_id', 'u1', { at: T0 + 5000 }))!.scores.churn!.value, 0.95, 'as of T0 + 5s');
      const found = await p.searchProfiles({ where: [{ field: 'scores.churn', op: 'gte', value: 0.5 }], sort: { field: 'scores.churn', order: 'desc' } });
      assert.deepEqual(found.items.map((i) => i.identities.userIds[0]), ['u1', 'u2'], 'search by and sort on a score');
      assert.equal((await errorOf(() => p.searchProfiles({ where: [{ field: 'scores.fraud', op: 'exists' }] }))).code, 'PORTRAIT_SEARCH_INVALID', 'an undeclared score is a search error');
      const x = await p.privacy.export('user_id', 'u1');
      assert.equal(x.profile.scores.churn!.value, 0.95, 'the export carries the scores');
      assert.ok(x.history.some((h) => h.changes['score.churn'] !== undefined), 'and their history');
    } finally {
      await p.close();
    }
  });

  it('a segment reading an undeclared score is refused with its path and reason', async () => {
    const { p } = await open();
    try {
      const e = await errorOf(() => p.segments.put('segment', { name: 'risky', condition: 'score.fraud > 0.5' }));
      assert.equal(e.code, 'PORTRAIT_SEGMENT_INVALID', 'code');
      assert.match(e.problems[0]!.message, /unknown score "fraud" \(declared: churn, ltv, mkt_propensity\)/, 'names the score and the declared ones');
      assert.match(e.problems[0]!.path, /\/condition\/ref$/, 'points at the reference');
      const t = await errorOf(() => p.segments.put('segment', { name: 'odd', condition: 'score.churn within 7 days' }));
      assert.match(t.problems[0]!.message, /is a number, not a time/, 'a score is a number');
    } finally {
      await p.close();
    }
  });
});

describe('scores and a changed declaration', () => {
  it('a logged score the configuration no longer accepts is left out on rebuild and listed as a conflict', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const first = await Portrait.open({ dataDir: dir, identity: { hashKey: '00'.repeat(32) }, scores: [{ name: 'churn', min: 0, max: 1 }, { name: 'ltv' }] }, { clock: new ManualClock(T0) });
      await first.ingest([withScores('u1', T0, 's1', { churn: 0.9, ltv: 5 })]);
      await first.drain();
      await first.close();
      const again = await Portrait.open({ dataDir: dir, identity: { hashKey: '00'.repeat(32) }, scores: [{ name: 'churn', min: 0, max: 0.5 }] }, { clock: new ManualClock(T0) });
      try {
        await again.rebuild();
        assert.deepEqual((await again.profile('user_id', 'u1'))!.scores, {}, 'neither score applies any more');
        const conflicts = (await again.attributeConflicts('user_id', 'u1')).map((c) => [c.attribute, c.reason, c.rejected]);
        assert.deepEqual(conflicts.sort(), [['context.scores.churn', 'score', 0.9], ['context.scores.ltv', 'score', 5]], 'each is listed with its field and value');
        assert.equal((await again.profile('user_id', 'u1'))!.eventCount, 1, 'the rest of the message applies');
      } finally {
        await again.close();
      }
    } finally {
      cleanup();
    }
  });
});

describe('scores over HTTP', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let write: string;
  let read: string;
  const call = caller(() => app);

  before(async () => {
    ({ p } = await open());
    write = (await p.keys.create('default', ['write'])).key;
    read = (await p.keys.create('default', ['read'])).key;
    app = buildServer(p);
  });

  after(async () => {
    await app.close();
    await p.close();
  });

  it('PUT appends (202), GET reads; bad input is a 400 naming the score', async () => {
    const put = await call('PUT', '/v1/profiles/user_id/h1/scores', write, { churn: { value: 0.83, model: 'churn-v3' } });
    assert.equal(put.statusCode, 202, 'accepted');
    await p.drain();
    const got = await call('GET', '/v1/profiles/user_id/h1/scores', read);
    assert.equal(got.statusCode, 200, 'read');
    assert.deepEqual((got.json() as { scores: Record<string, { value: number; model?: string }> }).scores.churn, { value: 0.83, time: new Date(T0).toISOString(), messageId: (put.json() as { messageId: string }).messageId, model: 'churn-v3' }, 'the score as recorded');
    const profile = await call('GET', '/v1/profiles/user_id/h1', read);
    assert.equal((profile.json() as { scores: Record<string, { value: number }> }).scores.churn!.value, 0.83, 'the profile answer carries scores');
    const bad = await call('PUT', '/v1/profiles/user_id/h1/scores', write, { churn: -1 });
    assert.equal(bad.statusCode, 400, 'out of range is a 400');
    assert.equal(errorCode(bad), 'PORTRAIT_SCORES_INVALID', 'with its code');
    assert.match(JSON.stringify(bad.json()), /score \\"churn\\" is -1, outside its declared range/, 'naming the score');
    assert.equal((await call('PUT', '/v1/profiles/user_id/h1/scores', read, { churn: 0.1 })).statusCode, 403, 'recording needs the write scope');
    assert.equal((await call('GET', '/v1/profiles/user_id/nobody/scores', read)).statusCode, 404, 'an unknown profile is a 404');
  });
});
