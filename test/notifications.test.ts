/**
 * End to end: an event makes a profile enter a segment, the engine writes
 * `segment.entered` to the outbox in its commit, and the delivery loop posts
 * it, signed, to a webhook; time alone then makes it leave, and
 * `segment.exited` follows. One delivery per notification.
 */
import { strict as assert } from 'node:assert';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { DAY } from '../src/core/clock.ts';
import { verifySignature } from '../src/destinations/index.ts';
import { openMemory, T0 } from './support/open.ts';

const SECRET = 'whsec_0123456789abcdef0123';

interface Received {
  type: string;
  id: string;
  segment: string;
  tag?: string;
  source?: string;
  verified: boolean;
}

async function receiver(now: () => number): Promise<{ url: string; got: Received[]; close: () => Promise<void> }> {
  const got: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const body = JSON.parse(raw) as { id: string; type: string; data: { segment: string; tag?: string; source?: string } };
      const header = req.headers['portrait-signature'];
      got.push({ type: body.type, id: body.id, segment: body.data.segment, tag: body.data.tag, source: body.data.source, verified: verifySignature(SECRET, typeof header === 'string' ? header : undefined, raw, { now: now() }).ok });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, got, close: () => new Promise((r) => server.close(() => r())) };
}

async function until(what: string, f: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!f()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('segment notifications reach webhooks', () => {
  it('delivers segment.entered after the event and segment.exited when time alone ends the membership, each once and signed', async () => {
    const { p, clock } = await openMemory({
      segments: [{ name: 'active', condition: 'last_seen within 7 days' }],
      delivery: { idleMs: 20 },
    });
    const hook = await receiver(() => clock.now());
    try {
      await p.destinations.create('default', { id: 'crm', url: hook.url, secret: SECRET, kinds: ['segment.entered', 'segment.exited'] });
      await p.ingest([{ type: 'page', userId: 'u1', name: 'Home', timestamp: T0, messageId: 'm1' }]);
      await p.drain();
      await until('segment.entered', () => hook.got.length >= 1);
      assert.deepEqual(hook.got.map((g) => [g.type, g.segment, g.verified]), [['segment.entered', 'active', true]], 'entered, signed');

      clock.advance(7 * DAY);
      await p.drain();
      await until('segment.exited', () => hook.got.length >= 2);
      assert.deepEqual(hook.got.map((g) => [g.type, g.segment]), [['segment.entered', 'active'], ['segment.exited', 'active']], 'then exited, by time alone');

      await new Promise((r) => setTimeout(r, 200));
      assert.equal(new Set(hook.got.map((g) => g.id)).size, hook.got.length, 'no notification twice');
      const log = await p.destinations.deliveries('default', 'crm');
      assert.deepEqual(log.items.map((d) => d.status), ['delivered', 'delivered'], 'the delivery log agrees');
    } finally {
      await p.close();
      await hook.close();
    }
  });

  it('delivers tag.entered and tag.exited of manual and rule tags to a destination subscribed to them, whatever its segment filter', async () => {
    const { p, clock } = await openMemory({
      traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }],
      segments: [{ name: 'buyers', condition: 'traits.orders >= 1' }],
      tags: [{ name: 'value/high', condition: 'traits.orders >= 2' }, { name: 'crm/vip' }],
      delivery: { idleMs: 20 },
    });
    const hook = await receiver(() => clock.now());
    try {
      await p.destinations.create('default', { id: 'tags', url: hook.url, secret: SECRET, kinds: ['tag.entered', 'tag.exited'], segments: ['buyers'] });
      await p.ingest([1, 2].map((n) => ({ type: 'track' as const, userId: 'u1', event: 'Order Completed', timestamp: T0 - n * 1000, messageId: `o${n}` })));
      await p.drain();
      await p.segments.tag('crm/vip', 'user_id', 'u1', true);
      await p.drain();
      await p.segments.tag('crm/vip', 'user_id', 'u1', false);
      await p.drain();
      await until('three tag notifications', () => hook.got.length >= 3);
      await new Promise((r) => setTimeout(r, 200));
      const got = hook.got.map((g) => [g.type, g.tag, g.source, g.verified]);
      assert.deepEqual(
        got.sort(),
        [
          ['tag.entered', 'crm/vip', 'manual', true],
          ['tag.entered', 'value/high', 'rule', true],
          ['tag.exited', 'crm/vip', 'manual', true],
        ],
        'tag events only (no segment.entered), each once and signed',
      );
    } finally {
      await p.close();
      await hook.close();
    }
  });

  it('a destination filtered by tag receives exactly the events of that tag and the tags below it', async () => {
    const { p, clock } = await openMemory({
      traits: [{ name: 'orders', kind: 'count', filter: { event: 'Order Completed' } }],
      segments: [{ name: 'buyers', condition: 'traits.orders >= 1' }],
      tags: [{ name: 'value/high', condition: 'traits.orders >= 2' }, { name: 'crm/vip' }, { name: 'crm/vip/gold' }, { name: 'crm/churn' }],
      delivery: { idleMs: 20 },
    });
    const vip = await receiver(() => clock.now());
    const value = await receiver(() => clock.now());
    try {
      await p.destinations.create('default', { id: 'vip', url: vip.url, secret: SECRET, kinds: ['tag.entered', 'tag.exited', 'segment.entered'], tags: ['crm/vip'] });
      await p.destinations.create('default', { id: 'value', url: value.url, secret: SECRET, kinds: ['tag.entered', 'tag.exited'], tags: ['value'] });
      await p.ingest([1, 2].map((n) => ({ type: 'track' as const, userId: 'u1', event: 'Order Completed', timestamp: T0 - n * 1000, messageId: `o${n}` })));
      await p.drain();
      for (const [tag, on] of [['crm/vip', true], ['crm/churn', true], ['crm/vip/gold', true], ['crm/vip', false], ['crm/churn', false]] as const) {
        await p.segments.tag(tag, 'user_id', 'u1', on);
        await p.drain();
      }
      await until('the vip tag notifications', () => vip.got.length >= 4);
      await until('the value tag notification', () => value.got.length >= 1);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(
        vip.got.map((g) => [g.type, g.tag ?? g.segment]).sort(),
        [
          ['segment.entered', 'buyers'],
          ['tag.entered', 'crm/vip'],
          ['tag.entered', 'crm/vip/gold'],
          ['tag.exited', 'crm/vip'],
        ],
        'crm/vip and the tag below it, each once; no crm/churn or value/high; segment events unfiltered by tags',
      );
      assert.deepEqual(value.got.map((g) => [g.type, g.tag, g.source]), [['tag.entered', 'value/high', 'rule']], 'the branch "value" takes value/high only');
    } finally {
      await p.close();
      await vip.close();
      await value.close();
    }
  });
  it('a destination made while the loop idles receives the next commit\'s notifications at once, not after the idle pause', async () => {
    // An idle pause far longer than the test: only the commit can start the pass that delivers.
    const { p, clock } = await openMemory({ segments: [{ name: 'active', condition: 'last_seen within 7 days' }], delivery: { idleMs: 600_000 } });
    const hook = await receiver(() => clock.now());
    try {
      await p.ingest([{ type: 'page', userId: 'u0', name: 'Home', timestamp: T0, messageId: 'm0' }]);
      await p.drain();
      await new Promise((r) => setTimeout(r, 50));
      await p.destinations.create('default', { id: 'late', url: hook.url, secret: SECRET, kinds: ['segment.entered'] });
      await p.ingest([{ type: 'page', userId: 'u1', name: 'Home', timestamp: T0, messageId: 'm1' }]);
      await p.drain();
      await until('segment.entered of u1', () => hook.got.length >= 1);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(hook.got.map((g) => [g.type, g.segment]), [['segment.entered', 'active']], 'only the entry made after the destination, once');
    } finally {
      await p.close();
      await hook.close();
    }
  });
});
