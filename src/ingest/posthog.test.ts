import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import LZString from 'lz-string';
import { distinctIdRole, looksAnonymous, postHogBodyToSegment, postHogToSegment, readPostHogBody } from './posthog.ts';
import { ManualClock } from '../core/clock.ts';
import { groupIdsOf } from '../core/event.ts';
import { parseMessage as parse } from './index.ts';

const parseMessage = (m: unknown) => parse(m, { workspace: 'default', clock: new ManualClock(0) });

const TS = '2026-11-01T00:00:00.000Z';
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');

describe('PostHog → Segment', () => {
  it('maps $identify with $set, $set_once and $anon_distinct_id', () => {
    const m = postHogToSegment({ event: '$identify', distinct_id: 'u1', uuid: 'id-1', timestamp: TS, properties: { $set: { plan: 'pro', city: 'Lima' }, $set_once: { city: 'Oslo', first: 'x' }, $anon_distinct_id: 'anon-1', $lib: 'posthog-node', $lib_version: '5' } });
    assert.deepEqual(m, {
      type: 'identify', userId: 'u1', anonymousId: 'anon-1', messageId: 'id-1', timestamp: TS,
      traits: { plan: 'pro', city: 'Lima', first: 'x' },
      context: { library: { name: 'posthog-node', version: '5' }, setOnce: ['first'] },
    });
    assert.equal(parseMessage(m).ok, true);
  });

  it('maps $create_alias, $groupidentify, $pageview, $screen', () => {
    assert.deepEqual(postHogToSegment({ event: '$create_alias', distinct_id: 'u1', properties: { alias: 'old', distinct_id: 'u1' } }), { type: 'alias', userId: 'u1', previousId: 'old' });
    const g = postHogToSegment({ event: '$groupidentify', distinct_id: 'u1', properties: { $group_type: 'company', $group_key: 'acme', $group_set: { plan: 'ent' } } });
    assert.deepEqual(g, { type: 'group', userId: 'u1', groupId: 'acme', traits: { plan: 'ent' }, context: { posthog_group_type: 'company' } });
    const lone = postHogToSegment({ event: '$groupidentify', distinct_id: '$company_acme', properties: { $group_type: 'company', $group_key: 'acme' } });
    assert.equal(lone.anonymousId, '$company_acme');
    assert.equal(lone.userId, undefined);
    const page = postHogToSegment({ event: '$pageview', distinct_id: 'u1', properties: { $current_url: 'https://x.io/a', $pathname: '/a' } });
    assert.equal(page.type, 'page');
    assert.equal(page.name, 'https://x.io/a');
    assert.equal(postHogToSegment({ event: '$pageview', distinct_id: 'u1', properties: { $pathname: '/a' } }).name, '/a');
    const screen = postHogToSegment({ event: '$screen', distinct_id: 'u1', properties: { $screen_name: 'Home' } });
    assert.deepEqual([screen.type, screen.name], ['screen', 'Home']);
    for (const m of [g, lone, page, screen]) assert.equal(parseMessage(m).ok, true, JSON.stringify(m));
  });

  it('attributes an event to its $groups through context.groups, keeping only usable keys', () => {
    const m = postHogToSegment({ event: 'Report Run', distinct_id: 'u1', properties: { $groups: { company: 'acme', project: 42, team: '', broken: { x: 1 } } } });
    assert.deepEqual(m.context, { groups: { company: 'acme', project: 42 } });
    assert.deepEqual((m.properties as Record<string, unknown>).$groups, { company: 'acme', project: 42, team: '', broken: { x: 1 } }, 'the properties keep what was sent');
    const r = parseMessage(m);
    assert.ok(r.ok);
    assert.deepEqual(groupIdsOf(r.event), ['42', 'acme']);
    assert.equal(postHogToSegment({ event: 'x', distinct_id: 'u1', properties: { $groups: { team: '' } } }).context, undefined, 'no usable key: no context.groups');
    assert.equal(postHogToSegment({ event: 'x', distinct_id: 'u1', properties: { $groups: 'acme' } }).context, undefined, 'not an object: ignored');
  });

  it('maps other events to track, moving $set/$set_once to context.traits', () => {
    const m = postHogToSegment({ event: 'Order Completed', distinct_id: 'u1', uuid: 'e1', timestamp: TS, properties: { price: 5, $set: { vip: true }, $set_once: { src: 'ad' } } });
    assert.deepEqual(m, { type: 'track', userId: 'u1', event: 'Order Completed', messageId: 'e1', timestamp: TS, properties: { price: 5 }, context: { traits: { src: 'ad', vip: true }, setOnce: ['src'] } });
  });

  it('applies the distinct_id rule', () => {
    const uuid7 = '019370c4-9d1e-7c3a-8b8a-0e2f4d6a8b1c';
    const legacy = '17f0a8c3e4b-0d2b1e0c4b8a8-1f2e3d4c-1fa400-17f0a8c3e4c8d';
    assert.ok(looksAnonymous(uuid7) && looksAnonymous(legacy), 'looksAnonymous(uuid7) && looksAnonymous(legacy)');
    assert.ok(!looksAnonymous('u_42') && !looksAnonymous('ann@example.com') && !looksAnonymous('42') && !looksAnonymous('1-2-3'), '!looksAnonymous(\'u_42\') && !looksAnonymous(\'ann@example.com\') && !looksAn...');
    assert.equal(distinctIdRole('e', uuid7, {}), 'anonymousId');
    assert.equal(distinctIdRole('e', legacy, {}), 'anonymousId');
    assert.equal(distinctIdRole('e', 'u_42', {}), 'userId');
    assert.equal(distinctIdRole('e', uuid7, { $is_identified: true }), 'userId');
    assert.equal(distinctIdRole('e', uuid7, { $anon_distinct_id: 'a' }), 'userId');
    assert.equal(distinctIdRole('$identify', uuid7, {}), 'userId');
    assert.equal(distinctIdRole('e', 'u_42', { $is_identified: false }), 'anonymousId');
    assert.equal(distinctIdRole('e', 'u_42', { $process_person_profile: false }), 'anonymousId');
    assert.equal(postHogToSegment({ event: 'x', distinct_id: uuid7 }).anonymousId, uuid7);
  });

  it('reads every body shape, with the key from body or first event', () => {
    const e = { event: 'x', distinct_id: 'u1', properties: { token: 'k2' } };
    assert.deepEqual(readPostHogBody({ api_key: 'k', batch: [e] }).events, [e]);
    assert.equal(readPostHogBody({ api_key: 'k', batch: [e] }).apiKey, 'k');
    assert.equal(readPostHogBody({ batch: [e] }).apiKey, 'k2');
    assert.equal(readPostHogBody({ token: 'k3', ...e }).apiKey, 'k3');
    assert.deepEqual(readPostHogBody([e, e]).events.length, 2);
    assert.deepEqual(readPostHogBody({ api_key: 'k', data: b64([e]) }).events, [e]);
    assert.deepEqual(readPostHogBody({ data: b64(e) }).apiKey, 'k2');
    assert.deepEqual(readPostHogBody({ data: [e] }).events, [e]);
    assert.deepEqual(readPostHogBody(`data=${encodeURIComponent(b64({ api_key: 'k4', batch: [e] }))}`).apiKey, 'k4');
    assert.deepEqual(readPostHogBody(JSON.stringify(e)).events, [e]);
    assert.deepEqual(readPostHogBody(`data=${encodeURIComponent(LZString.compressToBase64(JSON.stringify({ api_key: 'k5', batch: [e] })))}&compression=lz64`).apiKey, 'k5', 'lz64 form body');
    assert.deepEqual(readPostHogBody({ data: LZString.compressToBase64(JSON.stringify([e])) }).events, [e], 'lz64 data field');
    for (const bad of [42, null, {}, { foo: 1 }, 'not json', { data: '!!!' }]) assert.throws(() => readPostHogBody(bad), Error, JSON.stringify(bad));
  });

  it('derives a timestamp from sent_at and offset', () => {
    const { messages } = postHogBodyToSegment({ api_key: 'k', sent_at: TS, batch: [{ event: 'x', distinct_id: 'u', offset: 1000 }] });
    assert.equal(messages[0]!.timestamp, '2026-10-31T23:59:59.000Z');
  });

  it('keeps malformed events so Portrait can quarantine them', () => {
    const { messages } = postHogBodyToSegment({ batch: [{ distinct_id: 'u' }, { event: 'x' }, 7] });
    assert.equal(messages.length, 3);
    for (const m of messages) assert.equal(parseMessage(m).ok, false, JSON.stringify(m));
  });
});
