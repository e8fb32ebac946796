import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { NATS_URL, serviceSkip, tempNatsLog } from '../../test/support/services.ts';
import { controlMessageId, type ControlRecord } from '../core/control.ts';
import type { PortraitEvent, Positioned } from '../core/event.ts';
import { logEvent } from '../log/contract.ts';
import { NatsEventLog } from '../log/index.ts';
import { partitionOf, partitionOfRecord } from '../log/partition.ts';
import { PartitionLog } from './partition-log.ts';

/** A `forward` control record for partition `to`, sent by `from` while it processed position `at`. */
function forward(from: number, at: number, to: number, of: number, extra: { group?: true } = {}): ControlRecord {
  return { type: 'control', workspace: 'w', messageId: controlMessageId(from, at, 0), from, at, index: 0, to, body: { kind: 'forward', of, ...extra }, timestamp: 1_000, receivedAt: 1_000 };
}

describe('a partition of the NATS log read by its worker', { skip: await serviceSkip('NATS') }, () => {
  it('reads many forwarded events from several partitions back in order, each as its original; one the log no longer holds reads as its forward record (read from JetStream, and from what the process read of the other partitions)', async () => {
    const P = 4;
    const { log, dispose } = await tempNatsLog(P);
    // A second process on the stream, holding partitions 0-2 too: it read their events before the forwards arrive.
    const warm = await NatsEventLog.open({ servers: NATS_URL, stream: log.stream, subjectPrefix: log.subjectPrefix, partitions: P });
    try {
      // 600 events over 60 users, one of them (in partition 0) old enough for retention.
      const old = Array.from({ length: 600 }, (_, i) => i).find((i) => i > 250 && partitionOf('w', `u${i % 60}`, P) === 0)!;
      const events: PortraitEvent[] = Array.from({ length: 600 }, (_, i) => logEvent(`m${i}`, { userId: `u${i % 60}`, timestamp: i === old ? 1 : 1_000 }));
      await log.append(events);
      const originals = (await log.read(0, 1_000)).map((r) => ({ position: r.position, event: r.record as PortraitEvent, partition: partitionOfRecord(r.record, P) }));
      const elsewhere = originals.filter((o) => o.partition !== 3);
      assert.ok(new Set(elsewhere.map((o) => o.partition)).size === 3, 'the events lie in partitions 0, 1 and 2');
      // Each event of 0-2 forwarded to 3 by its own partition; every tenth by another one (an event forwarded on), every seventh for a group.
      const forwards = elsewhere.map((o, k) => forward(k % 10 === 0 ? (o.partition + 1) % 3 : o.partition, o.position, 3, o.position, k % 7 === 0 ? { group: true } : {}));
      for (let i = 0; i < forwards.length; i += 100) await log.publishControl(forwards.slice(i, i + 100));
      for (const p of [0, 1, 2]) assert.equal((await warm.readPartition(p, 0, 1_000)).length, elsewhere.filter((o) => o.partition === p).length, `the second process read partition ${p}`);
      const gone = originals.find((o) => o.event.messageId === `m${old}`)!;
      assert.equal((await warm.purge({ before: 2 })).get('w'), 1, 'retention deletes the old event');

      const check = (rows: Positioned[], who: string) => {
        const own = originals.filter((o) => o.partition === 3).length;
        assert.equal(rows.length, own + forwards.length, `${who}: every record of the partition is read, none dropped`);
        assert.ok(rows.every((r, i) => i === 0 || r.position > rows[i - 1]!.position), `${who}: in position order`);
        const read = rows.filter((r) => r.forwarded !== undefined || r.record.type === 'control');
        assert.equal(read.length, forwards.length, `${who}: one row per forward record`);
        read.forEach((r, k) => {
          const f = forwards[k]!;
          if (f.body.kind !== 'forward') assert.fail('a forward record');
          const { of, group } = f.body;
          if (of === gone.position) {
            assert.deepEqual(r.record, f, `${who}: the forward of the purged event reads as itself`);
            assert.equal(r.forwarded, undefined);
            return;
          }
          const original = originals.find((o) => o.position === of)!;
          assert.deepEqual(r.record, original.event, `${who}: the forward of position ${original.position} reads as that event`);
          assert.deepEqual(r.forwarded, { control: f, group: group === true }, `${who}: with its forward record`);
        });
      };
      for (const [reader, who] of [[log, 'from JetStream'], [warm, 'from what the process read']] as const) {
        const view = new PartitionLog(reader, 3);
        check(await view.read(0, 10_000), who);
        await view.close();
      }
    } finally {
      await warm.close();
      await log.close();
      await dispose();
    }
  });
});
