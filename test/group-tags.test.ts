import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../src/index.ts';
import { buildServer } from '../src/server/app.ts';
import { caller, errorCode } from './support/http.ts';
import { openMemory, T0 } from './support/open.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test responses are read loosely

const CONFIG = {
  traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }],
  segments: [
    { name: 'sporty', condition: 'has_tag("interest/sports")' },
    { name: 'busy', condition: 'event_count >= 1' },
  ],
  tags: [{ name: 'interest/sports/football' }, { name: 'interest/music' }, { name: 'value/high', condition: 'traits.orders >= 2' }],
};

const join = (userId: string, groupId: string, i: number) => ({ type: 'group', userId, groupId, traits: { plan: 'pro' }, messageId: `g-${userId}-${groupId}-${i}`, timestamp: T0 + i });

async function groupId(p: Portrait, g: string): Promise<string> {
  return (await p.profile('group_id', g))!.id;
}

describe('manual tags on group (account) profiles', () => {
  let p: Portrait;
  let app: FastifyInstance;
  let read: string;
  let write: string;
  const call = caller(() => app);

  before(async () => {
    ({ p } = await openMemory(CONFIG));
    read = (await p.keys.create('default', ['read'])).key;
    write = (await p.keys.create('default', ['write'])).key;
    app = buildServer(p);
    await p.ingest([join('u1', 'acme', 1), join('u2', 'acme', 2), join('u3', 'globex', 3)]);
    await p.drain();
  });
  after(async () => {
    await app.close();
    await p.close();
  });

  it('PUT and DELETE set and unset the tag through the log: membership, history, tag outbox rows, tree counts and has_tag follow', async () => {
    const acme = await groupId(p, 'acme');
    const eventsBefore = (await p.profile('group_id', 'acme'))!.eventCount;
    const set = await call('PUT', '/v1/tags/interest%2Fsports%2Ffootball/profiles/group_id/acme', write);
    assert.equal(set.statusCode, 200, set.body);
    const body = set.json() as Json;
    assert.deepEqual([body.profileId, body.changed], [acme, true], 'the group profile, changed');
    assert.match(body.messageId, /^tag-/, 'the id of the record it appended');
    await p.drain();
    assert.deepEqual((await p.segments.tagMembers('interest/sports/football')).members.map((m) => m.profileId), [acme], 'the group is a member');
    assert.deepEqual((await p.segments.members('sporty')).members.map((m) => m.profileId), [acme], 'a segment reading has_tag of the parent follows');
    const profile = (await call('GET', '/v1/profiles/group_id/acme', read)).json() as Json;
    assert.deepEqual(profile.tags.map((t: Json) => `${t.tag} ${t.source}`), ['interest/sports/football manual'], 'the profile lists the tag as manual');
    const tree = (await call('GET', '/v1/tags/tree', read)).json() as Json;
    const interest = tree.tree.find((n: Json) => n.path === 'interest');
    assert.deepEqual([interest.total, interest.children.find((c: Json) => c.path === 'interest/sports').total], [1, 1], 'tree counts include the group');
    assert.equal((await p.profile('group_id', 'acme'))!.eventCount, eventsBefore + 1, 'the decision counts as an event of the group, as a person\'s counts for them');
    assert.equal((await p.events('group_id', 'acme')).events.some((e) => e.record.messageId === body.messageId), true, "the decision is listed among the group's events");
    assert.equal((await p.events('user_id', 'u1')).events.some((e) => e.record.messageId === body.messageId), false, "and among no member's");

    const again = (await call('PUT', '/v1/tags/interest%2Fsports%2Ffootball/profiles/group_id/acme', write)).json() as Json;
    assert.equal(again.changed, false, 'setting it again changes nothing');
    await p.drain();
    const unset = await call('DELETE', '/v1/tags/interest%2Fsports%2Ffootball/profiles/group_id/acme', write);
    assert.equal(unset.statusCode, 200, unset.body);
    assert.equal((unset.json() as Json).changed, true, 'unset');
    await p.drain();
    assert.deepEqual((await p.segments.tagMembers('interest/sports/football')).members, [], 'no member left');
    assert.deepEqual((await p.segments.members('sporty')).members, [], 'and the segment follows');
    const history = (await p.segments.history('group_id', 'acme')).filter((h) => h.segment !== 'busy');
    const positions = new Map(history.map((h) => [`${h.segment} ${h.change}`, h.position]));
    assert.equal(positions.get('sporty entered'), positions.get('tag:interest/sports/football entered'), 'the dependant entered in the same commit as the tag');
    assert.equal(positions.get('sporty exited'), positions.get('tag:interest/sports/football exited'), 'and exited in the same commit');
    assert.deepEqual(
      history.filter((h) => h.segment.startsWith('tag:')).map((h) => `${h.change} ${h.reason}`),
      ['exited manual', 'entered manual'],
      'the tag history with the reason manual, newest first',
    );
    const outbox = (await p.segments.outbox({ limit: 1000 })).filter((o) => o.kind.startsWith('tag.') && o.profileId === acme);
    assert.deepEqual(
      outbox.map((o) => [o.kind, (o.payload as { tag: string }).tag, (o.payload as { source: string }).source, (o.payload as { reason: string }).reason]),
      [['tag.entered', 'interest/sports/football', 'manual', 'manual'], ['tag.exited', 'interest/sports/football', 'manual', 'manual']],
      'tag.entered and tag.exited in the outbox, as for a person',
    );
  });

  it('refuses an unknown tag, a rule-driven tag and an unknown group with a clear 4xx, appending nothing', async () => {
    const events = (await p.events('group_id', 'acme')).events.length;
    const unknownTag = await call('PUT', '/v1/tags/interest%2Fchess/profiles/group_id/acme', write);
    assert.equal(unknownTag.statusCode, 404, unknownTag.body);
    assert.equal(errorCode(unknownTag), 'PORTRAIT_TAG_UNKNOWN');
    const rule = await call('PUT', '/v1/tags/value%2Fhigh/profiles/group_id/acme', write);
    assert.equal(rule.statusCode, 409, rule.body);
    assert.equal(errorCode(rule), 'PORTRAIT_TAG_NOT_MANUAL');
    const unknownGroup = await call('DELETE', '/v1/tags/interest%2Fmusic/profiles/group_id/initech', write);
    assert.equal(unknownGroup.statusCode, 404, unknownGroup.body);
    assert.equal(errorCode(unknownGroup), 'PORTRAIT_PROFILE_NOT_FOUND');
    const readOnly = await call('PUT', '/v1/tags/interest%2Fmusic/profiles/group_id/acme', read);
    assert.equal(readOnly.statusCode, 403, 'the write scope is needed');
    await p.drain();
    assert.equal((await p.events('group_id', 'acme')).events.length, events, 'nothing appended');
    assert.equal(await p.profile('group_id', 'initech'), undefined, 'no group made');
  });

  it("a member's erasure leaves the group's tag, also when the member was the group's only one, and a rebuild keeps it", async () => {
    await p.segments.tag('interest/music', 'group_id', 'globex', true);
    await p.segments.tag('interest/music', 'group_id', 'acme', true);
    await p.drain();
    const globex = await groupId(p, 'globex');
    const acme = await groupId(p, 'acme');
    await p.privacy.waitFor((await p.privacy.erase('user_id', 'u3')).id);
    await p.privacy.waitFor((await p.privacy.erase('user_id', 'u1')).id);
    await p.drain();
    const members = async () => (await p.segments.tagMembers('interest/music')).members.map((m) => m.profileId).sort();
    assert.deepEqual(await members(), [acme, globex].sort(), 'both groups keep the tag');
    const g = (await p.profile('group_id', 'globex'))!;
    assert.equal(g.id, globex, 'the group whose only member was erased stays, holding its own decision');
    assert.equal((await p.events('group_id', 'globex')).events.length, 1, 'its one event left is the decision');
    const before = await p.stateDump();
    await p.rebuild();
    await p.drain();
    assert.deepEqual(await members(), [acme, globex].sort(), 'a rebuild repeats the decisions');
    assert.deepEqual(await p.stateDump(), before, 'and gives the same state');
  });
});
