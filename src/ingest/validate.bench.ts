/**
 * Micro-benchmark of parseMessage on a typical ~500-byte track message that is
 * already JSON-parsed. Not a test: run with
 * `node --import tsx src/ingest/validate.bench.ts` and read messages/s.
 */
import { systemClock } from '../core/clock.ts';
import { parseBatch, parseMessage } from './validate.ts';

const POOL = 1000;
const ROUNDS = 5;
const PER_ROUND = 1_000_000;

/** A message as analytics.js sends it, with per-message variety in ids and values. */
function sampleJson(i: number, withMessageId: boolean): string {
  return JSON.stringify({
    type: 'track',
    event: 'Order Completed',
    ...(withMessageId ? { messageId: `ajs-next-1714564800000-${i.toString(16).padStart(8, '0')}-4b2f-9d1e` } : {}),
    userId: `user-${i}`,
    anonymousId: `3f0a8c52-7b1d-4e0e-9a4b-${(100000000000 + i).toString()}`,
    timestamp: '2024-05-01T11:59:59.123Z',
    sentAt: '2024-05-01T12:00:00.456Z',
    properties: { orderId: `o-${i}`, total: 39.9 + i, currency: 'EUR', products: [{ sku: 'sku-1', qty: 2 }] },
    context: {
      ip: '203.0.113.7',
      locale: 'en-GB',
      library: { name: 'analytics.js', version: 'npm:next-1.66.0' },
      page: { path: '/checkout' },
    },
    integrations: {},
  });
}

function run(label: string, messages: unknown[], parse: (m: unknown) => unknown, perMessage = 1): void {
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    let sink = 0;
    for (let i = 0; i < PER_ROUND / perMessage; i++) {
      if ((parse(messages[i % messages.length]) as { ok: boolean }).ok) sink++;
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (sink !== PER_ROUND / perMessage) throw new Error(`${label}: some messages were rejected`);
    best = Math.max(best, PER_ROUND / seconds);
  }
  console.log(`${label.padEnd(44)} ${Math.round(best).toLocaleString('en-US').padStart(11)} messages/s`);
}

const jsons = Array.from({ length: POOL }, (_, i) => sampleJson(i, true));
const withId = jsons.map((s) => JSON.parse(s) as unknown);
const withoutId = Array.from({ length: POOL }, (_, i) => JSON.parse(sampleJson(i, false)) as unknown);
const batches = Array.from({ length: POOL / 100 }, (_, b) => ({
  batch: withoutId.slice(b * 100, b * 100 + 100),
  sentAt: '2024-05-01T12:00:00.456Z',
  context: { library: { name: 'analytics-node', version: '2.0.0' } },
}));
const opts = { workspace: 'bench', clock: systemClock };
const avgBytes = Math.round(jsons.reduce((n, s) => n + Buffer.byteLength(s), 0) / POOL);

console.log(`parseMessage on a ${avgBytes}-byte track message, best of ${ROUNDS} rounds of ${PER_ROUND.toLocaleString('en-US')}, node ${process.version}`);
run('parseMessage (client messageId)', withId, (m) => parseMessage(m, opts));
run('parseMessage (messageId generated)', withoutId, (m) => parseMessage(m, opts));
run('parseBatch of 100 (per message)', batches, (b) => parseBatch(b, opts), 100);
run('JSON.parse alone, for scale', jsons, (s) => ({ ok: JSON.parse(s as string) !== null }));
