import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NATS_URL, serviceSkip, tempNatsLog } from '../../../test/support/services.ts';
import { isPortraitError } from '../../core/errors.ts';
import { logEvent } from '../contract.ts';
import { partitionOf } from '../partition.ts';
import { NatsEventLog, subjectPrefixOf } from './nats-event-log.ts';

describe('NatsEventLog', { skip: await serviceSkip('NATS') }, () => {
  it('places each record in the partition of its profile key; a partition reads back only its own, in order', async () => {
    const { log, dispose } = await tempNatsLog(4);
    try {
      const events = Array.from({ length: 40 }, (_, i) => logEvent(`m${i}`, i % 3 === 0 ? { userId: undefined, anonymousId: `a${i % 7}` } : { userId: `u${i % 11}` }));
      await log.append(events);
      const all = await log.read(0, 100);
      assert.equal(all.length, 40, 'all 40 records are in the stream');
      const seen: number[] = [];
      for (let p = 0; p < 4; p++) {
        const part = await log.readPartition(p, 0, 100);
        for (const r of part) {
          const e = r.record as (typeof events)[number];
          assert.equal(partitionOf('w', e.userId ?? e.anonymousId!, 4), p, `record ${e.messageId} belongs to partition ${p}`);
          seen.push(r.position);
        }
        assert.ok(part.every((r, i) => i === 0 || r.position > part[i - 1]!.position), `partition ${p} reads in position order`);
        if (part.length > 1) {
          const rest = await log.readPartition(p, part[0]!.position, 100);
          assert.deepEqual(rest.map((r) => r.position), part.slice(1).map((r) => r.position), `partition ${p} resumes after a position`);
        }
      }
      assert.deepEqual(seen.sort((a, b) => a - b), all.map((r) => r.position), 'the partitions together hold every record exactly once');
    } finally {
      await log.close();
      await dispose();
    }
  });

  it("knows every partition's last sequence, also after later appends, in one look", async () => {
    const { log, dispose } = await tempNatsLog(4);
    try {
      assert.equal((await log.partitionHeads()).size, 0, 'an empty stream has no partition heads');
      for (const round of [0, 1]) {
        await log.append(Array.from({ length: 12 }, (_, i) => logEvent(`r${round}m${i}`, { userId: `u${i}` })));
        const heads = await log.partitionHeads();
        for (let p = 0; p < 4; p++) {
          const last = (await log.readPartition(p, 0, 100)).at(-1)?.position ?? 0;
          assert.equal(heads.get(p) ?? 0, last, `round ${round}: partition ${p}'s head is its last record`);
          assert.equal(await log.partitionHead(p), last, `round ${round}: partitionHead(${p}) agrees`);
        }
      }
    } finally {
      await log.close();
      await dispose();
    }
  });

  it("JetStream's message-id window drops a twin the dedup bucket has not recorded", async () => {
    const { log, dispose } = await tempNatsLog(2);
    const nc = await connect({ servers: NATS_URL });
    try {
      const e = logEvent('twin');
      // Published straight to the stream (as a crashed node might have done before recording it): the bucket does not know it.
      const ack = await jetstream(nc).publish(log.subject(log.partitionOf(e), 'w'), JSON.stringify(e), { msgID: 'w:twin' });
      assert.equal(ack.duplicate, false, 'the first publish is stored');
      assert.deepEqual(await log.append([e]), ['duplicate'], 'the append is acknowledged as a duplicate');
      assert.equal((await log.read(0, 10)).length, 1, 'one copy in the stream');
    } finally {
      await nc.close();
      await log.close();
      await dispose();
    }
  });

  it('two nodes on one stream share deduplication and see each other through refreshHead', async () => {
    const { log, dispose } = await tempNatsLog(2);
    const other = await NatsEventLog.open({ servers: NATS_URL, stream: log.stream, subjectPrefix: log.subjectPrefix, partitions: 2 });
    try {
      assert.deepEqual(await log.append([logEvent('a')]), ['appended'], 'node 1 appends');
      assert.deepEqual(await other.append([logEvent('a'), logEvent('b')]), ['duplicate', 'appended'], 'node 2 sees the first as a duplicate');
      assert.equal(log.head(), 1, "node 1's head is its own last append");
      assert.equal(await log.refreshHead(), 2, "after a refresh node 1 sees node 2's append");
    } finally {
      await other.close();
      await log.close();
      await dispose();
    }
  });

  it('reads records by position together: each one asked for, once however often asked; one the log does not hold is absent', async () => {
    const { log, dispose } = await tempNatsLog(4);
    try {
      await log.append(Array.from({ length: 200 }, (_, i) => logEvent(`m${i}`, { userId: `u${i % 13}` })));
      const all = await log.read(0, 1_000);
      const byPosition = new Map(all.map((r) => [r.position, r.record]));
      const past = all[all.length - 1]!.position + 10;
      const got = await log.recordsAt([...all.map((r) => r.position), all[7]!.position, past]);
      assert.deepEqual(new Map([...got].sort(([a], [b]) => a - b)), byPosition, 'every record asked for, as appended');
      assert.equal(got.has(past), false, 'a position past the head is absent');
      assert.equal(await log.recordAt(past), undefined, 'and reads as undefined on its own');
      assert.deepEqual(await log.recordAt(all[3]!.position), all[3]!.record, 'one record by its position');
      await log.close();
      await assert.rejects(log.recordsAt([all[0]!.position]), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_CLOSED', 'a closed log refuses');
    } finally {
      await log.close();
      await dispose();
    }
  });

  it('a read leaves no consumer behind; a read that fails throws PORTRAIT_STORAGE_FAILED instead of waiting', async () => {
    const { log, dispose } = await tempNatsLog(2);
    const nc = await connect({ servers: NATS_URL });
    try {
      await log.append(Array.from({ length: 30 }, (_, i) => logEvent(`m${i}`, { userId: `u${i % 5}` })));
      assert.equal((await log.read(0, 100)).length, 30);
      assert.ok((await log.readPartition(0, 0, 100)).length + (await log.readPartition(1, 0, 100)).length === 30);
      const consumers = await (await jetstreamManager(nc)).consumers.list(log.stream).next();
      assert.deepEqual(consumers, [], 'every read deleted its consumer');
      // The stream is removed under the reader (an operator's mistake, a server that lost its store).
      await dispose();
      await assert.rejects(log.readPartition(0, 0, 100), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_STORAGE_FAILED', 'a typed error the engine retries on');
    } finally {
      await nc.close();
      await log.close();
    }
  });

  it('reports an unreachable server with a typed error', async () => {
    await assert.rejects(
      NatsEventLog.open({ servers: 'nats://127.0.0.1:1', partitions: 1 }),
      (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_SERVICE_UNAVAILABLE',
      'PORTRAIT_SERVICE_UNAVAILABLE',
    );
  });
});

describe('NatsEventLog subjects', () => {
  it('derives the subject prefix from the stream name, so two streams never share subjects', () => {
    assert.equal(subjectPrefixOf('PORTRAIT_EVENTS'), 'portrait.events', 'the default stream');
    assert.equal(subjectPrefixOf('PORTRAIT__TEST_ab12'), 'portrait.test.ab12', 'runs of _ make one token separator');
    assert.equal(subjectPrefixOf('Shop-Events'), 'shop-events', 'a single token');
  });
});
