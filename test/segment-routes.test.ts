import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { caller, errorCode } from './support/http.ts';
import { openMemory, T0 } from './support/open.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test responses are read loosely

describe('HTTP API: segments and tags', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let read: string;
  let admin: string;

  const call = caller(() => app);
  const code = errorCode;

  before(async () => {
    ({ p } = await openMemory({ traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }], tags: [{ name: 'interest/sports' }] }));
    read = (await p.keys.create('default', ['read'])).key;
    admin = (await p.keys.create('default', ['write', 'read', 'admin'])).key;
    app = buildServer(p);
    await p.ingest([
      ...Array.from({ length: 3 }, (_, i) => ({ type: 'track', userId: 'u1', event: 'Order Completed', timestamp: T0 + i })),
      { type: 'identify', userId: 'u2', traits: { city: 'Lima' }, timestamp: T0 },
      { type: 'track', userId: 'u3', event: 'Order Completed', timestamp: T0 },
    ]);
    await p.drain();
  });
  after(async () => {
    await app.close();
    await p.close();
  });

  it('creates a segment, which backfills, then lists, pages its members and explains', async () => {
    const put = await call('PUT', '/v1/segments/buyers', admin, { name: 'buyers', condition: 'traits.orders >= 1' });
    assert.equal(put.statusCode, 201, put.body);
    await p.drain();
    const got = (await call('GET', '/v1/segments/buyers', read)).json() as Json;
    assert.equal(got.status, 'live', 'live after the backfill');
    assert.equal(got.size, 2, 'two buyers');
    const page1 = (await call('GET', '/v1/segments/buyers/members?limit=1', read)).json() as Json;
    assert.equal(page1.members.length, 1, 'one per page');
    const page2 = (await call('GET', `/v1/segments/buyers/members?limit=1&after=${page1.next}`, read)).json() as Json;
    assert.equal(page2.members.length, 1, 'the second page');
    assert.notEqual(page2.members[0].profileId, page1.members[0].profileId, 'pages do not overlap');
    const ex = (await call('GET', '/v1/segments/buyers/explain/user_id/u1', read)).json() as Json;
    assert.equal(ex.member, true, 'u1 is in');
    assert.equal(ex.explanation.value, 3, 'with its order count');
    const out = (await call('GET', '/v1/segments/buyers/explain/user_id/u2', read)).json() as Json;
    assert.equal(out.member, false, 'u2 is out');
    const sizes = (await call('GET', '/v1/segments/buyers/sizes', read)).json() as Json;
    assert.equal(sizes.sizes[0].size, 2, 'size history');
    const profile = (await call('GET', '/v1/profiles/user_id/u1', read)).json() as Json;
    assert.deepEqual(profile.segments.map((s: Json) => s.name), ['buyers'], 'the profile lists its segments');
    const history = (await call('GET', '/v1/profiles/user_id/u1/memberships', read)).json() as Json;
    assert.equal(history.memberships[0].reason, 'definition', 'entered by the backfill');
  });

  it('validates without saving, with the position of a syntax error', async () => {
    const ok = await call('POST', '/v1/segments/validate', read, { name: 'x', condition: { op: 'exists', ref: 'attributes.city' } });
    assert.equal(ok.statusCode, 200, ok.body);
    const bad = await call('POST', '/v1/segments/validate', read, { name: 'x', condition: 'attributes.city in ("a"' });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal(code(bad), 'PORTRAIT_SEGMENT_CONDITION_SYNTAX', 'syntax error code');
    assert.match(bad.body, /position 23/, 'names the position');
    const unknown = await call('POST', '/v1/segments/validate', read, { name: 'x', condition: 'traits.nope > 1' });
    assert.equal(code(unknown), 'PORTRAIT_SEGMENT_INVALID', 'unknown trait');
    assert.equal((await call('GET', '/v1/segments/x', read)).statusCode, 404, 'not saved');
  });

  it('needs admin to change definitions and matching names', async () => {
    assert.equal((await call('PUT', '/v1/segments/y', read, { name: 'y', condition: 'event_count > 1' })).statusCode, 403, 'read key');
    assert.equal(code(await call('PUT', '/v1/segments/y', admin, { name: 'z', condition: 'event_count > 1' })), 'PORTRAIT_SEGMENT_NAME_MISMATCH', 'mismatch');
    assert.equal((await call('DELETE', '/v1/segments/ghost', admin)).statusCode, 404, 'unknown');
  });

  it('PUT takes the name from the path when the body leaves it out; a different one is refused and saves nothing', async () => {
    const put = await call('PUT', '/v1/segments/lima', admin, { condition: 'attributes.city = "Lima"' });
    assert.equal(put.statusCode, 201, put.body);
    assert.equal((put.json() as Json).name, 'lima', 'named by the path');
    await p.drain();
    assert.equal(((await call('GET', '/v1/segments/lima', read)).json() as Json).size, 1, 'u2 lives in Lima');
    const other = await call('PUT', '/v1/segments/lima2', admin, { name: 'lima', condition: 'event_count > 1' });
    assert.equal(other.statusCode, 400, other.body);
    assert.equal(code(other), 'PORTRAIT_SEGMENT_NAME_MISMATCH');
    assert.match(other.body, /named \\"lima\\" but the path names \\"lima2\\"/, 'names both');
    assert.equal((await call('GET', '/v1/segments/lima2', read)).statusCode, 404, 'nothing saved under the path');
    assert.equal(((await call('GET', '/v1/segments/lima', read)).json() as Json).version, 1, 'nor under the body\'s name');
    const odd = await call('PUT', '/v1/segments/lima', admin, { name: 7, condition: 'event_count > 1' });
    assert.equal(code(odd), 'PORTRAIT_SEGMENT_NAME_MISMATCH', 'a name of another type is a mismatch too');
    assert.equal((await call('DELETE', '/v1/segments/lima', admin)).statusCode, 204);
  });

  it('POST creates a segment or a tag once: the second time is 409 and changes nothing', async () => {
    const created = await call('POST', '/v1/segments', admin, { name: 'heavy', condition: 'traits.orders >= 3' });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal((created.json() as Json).name, 'heavy');
    await p.drain();
    assert.equal(((await call('GET', '/v1/segments/heavy', read)).json() as Json).size, 1, 'evaluated over the profiles: u1');
    const again = await call('POST', '/v1/segments', admin, { name: 'heavy', condition: 'traits.orders >= 1' });
    assert.equal(again.statusCode, 409, again.body);
    assert.equal(code(again), 'PORTRAIT_SEGMENT_EXISTS');
    assert.match(again.body, /PUT \/v1\/segments\/heavy/, 'says how to replace it');
    const kept = (await call('GET', '/v1/segments/heavy', read)).json() as Json;
    assert.equal(kept.version, 1, 'the definition is unchanged');
    assert.equal(kept.condition, 'traits.orders >= 3');
    assert.equal((await call('POST', '/v1/segments', read, { name: 'other', condition: 'event_count > 1' })).statusCode, 403, 'admin only');
    assert.equal(code(await call('POST', '/v1/segments', admin, { condition: 'event_count > 1' })), 'PORTRAIT_SEGMENT_INVALID', 'a name is needed');

    const tag = await call('POST', '/v1/tags', admin, { name: 'value/vip', condition: 'in_segment("heavy")' });
    assert.equal(tag.statusCode, 201, tag.body);
    const tagAgain = await call('POST', '/v1/tags', admin, { name: 'value/vip' });
    assert.equal(code(tagAgain), 'PORTRAIT_TAG_EXISTS');
    assert.match(tagAgain.body, /PUT \/v1\/tags\/value%2Fvip/, 'with the encoded path');
    assert.equal(((await call('GET', '/v1/tags/value%2Fvip', read)).json() as Json).condition, 'in_segment("heavy")', 'still rule-driven');
    assert.equal((await call('DELETE', '/v1/tags/value%2Fvip', admin)).statusCode, 204);
    assert.equal((await call('DELETE', '/v1/segments/heavy', admin)).statusCode, 204);
  });

  it('names a problem by its path inside the definition sent', async () => {
    const unknown = await call('PUT', '/v1/segments/x', admin, { condition: 'traits.orders > 1 and traits.nope > 1' });
    assert.equal(code(unknown), 'PORTRAIT_SEGMENT_INVALID', unknown.body);
    const problems = (unknown.json() as Json).error.problems as Json[];
    assert.deepEqual(problems.map((q) => q.path), ['/condition/args/1/ref'], unknown.body);
    assert.match(problems[0]!.message, /unknown trait "nope"/);
    const field = await call('POST', '/v1/segments', admin, { name: 'x', condition: 'event_count > 1', colour: 'red' });
    assert.deepEqual(((field.json() as Json).error.problems as Json[]).map((q) => q.path), ['/colour'], field.body);
    assert.equal((await call('GET', '/v1/segments/x', read)).statusCode, 404, 'nothing saved');
  });

  it('tags: define with slashes in the name, set manually, list as a tree', async () => {
    const put = await call('PUT', '/v1/tags/value%2Fhigh', admin, { name: 'value/high', condition: 'traits.orders >= 3' });
    assert.equal(put.statusCode, 201, put.body);
    await p.drain();
    const set = await call('PUT', '/v1/tags/interest%2Fsports/profiles/user_id/u2', admin);
    assert.equal(set.statusCode, 200, set.body);
    assert.equal((set.json() as Json).changed, true, 'set');
    assert.equal(code(await call('PUT', '/v1/tags/value%2Fhigh/profiles/user_id/u2', admin)), 'PORTRAIT_TAG_NOT_MANUAL', 'a rule tag cannot be set');
    await p.drain();
    const tree = ((await call('GET', '/v1/tags/tree', read)).json() as Json).tree as Json[];
    assert.deepEqual(tree.map((n) => [n.path, n.total]), [['interest', 1], ['value', 1]], 'roots with subtree counts');
    const members = (await call('GET', '/v1/tags/value%2Fhigh/members', read)).json() as Json;
    assert.equal(members.members.length, 1, 'u1 has value/high');
    const profile = (await call('GET', '/v1/profiles/user_id/u2', read)).json() as Json;
    assert.deepEqual(profile.tags.map((t: Json) => t.tag), ['interest/sports'], 'the profile lists its tags');
    assert.equal((await call('DELETE', '/v1/tags/interest%2Fsports/profiles/user_id/u2', admin)).statusCode, 200, 'unset');
    assert.equal((await call('DELETE', '/v1/tags/value%2Fhigh', admin)).statusCode, 204, 'remove a tag');
  });

  it('segments and tags name tags: has_tag covers the tags below; an unknown tag is a 400 with its path; set returns the appended message', async () => {
    assert.equal((await call('PUT', '/v1/tags/interest%2Fsports%2Frunning', admin, { name: 'interest/sports/running' })).statusCode, 201, 'a manual child tag');
    const bad = await call('PUT', '/v1/segments/runners', admin, { name: 'runners', condition: 'has_tag("interest/running")' });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal(code(bad), 'PORTRAIT_SEGMENT_INVALID', 'an unknown tag');
    assert.match(bad.body, /condition\/tag.*unknown tag \\"interest\/running\\"/, 'with its path and reason');
    const json = await call('PUT', '/v1/segments/runners', admin, { name: 'runners', condition: { op: 'has_tag', tag: 'interest/sports' } });
    assert.equal(json.statusCode, 201, json.body);
    assert.equal((json.json() as Json).condition, 'has_tag("interest/sports")', 'the JSON form, printed as text');
    const cyc = await call('PUT', '/v1/tags/interest%2Fsports%2Fkeen', admin, { name: 'interest/sports/keen', condition: 'in_segment("runners")' });
    assert.equal(code(cyc), 'PORTRAIT_SEGMENT_INVALID', 'a tag rule naming a segment naming that tag');
    assert.match(cyc.body, /cycle/, 'is a cycle');
    await p.drain();
    const set = await call('PUT', '/v1/tags/interest%2Fsports%2Frunning/profiles/user_id/u3', admin);
    assert.equal(set.statusCode, 200, set.body);
    const body = set.json() as Json;
    assert.equal(body.changed, true, 'changed: the folded state did not have it');
    assert.match(body.messageId, /^tag-/, 'the id of the decision appended to the log');
    await p.drain();
    const members = (await call('GET', '/v1/segments/runners/members', read)).json() as Json;
    assert.deepEqual(members.members.map((m: Json) => m.profileId), [body.profileId], 'the segment follows the manual child tag');
    const ex = (await call('GET', '/v1/segments/runners/explain/user_id/u3', read)).json() as Json;
    assert.deepEqual(ex.explanation, { condition: 'has_tag("interest/sports")', held: true, value: ['interest/sports/running'] }, 'explain names the tags that made it hold');
    const manual = (await call('GET', '/v1/tags/interest%2Fsports%2Frunning/explain/user_id/u3', read)).json() as Json;
    assert.deepEqual([manual.member, manual.explanation.condition], [true, 'set manually: interest/sports/running'], 'a manual tag explains itself');
    const history = ((await call('GET', '/v1/profiles/user_id/u3/memberships', read)).json() as Json).memberships as Json[];
    const entered = history.filter((h) => h.segment === 'runners' || h.segment === 'tag:interest/sports/running');
    assert.deepEqual(entered.map((h) => `${h.segment} ${h.change} ${h.reason}`).sort(), ['runners entered event', 'tag:interest/sports/running entered manual'], 'the tag and its dependant entered');
    assert.equal(entered[0]!.position, entered[1]!.position, 'in one commit');
  });
});
