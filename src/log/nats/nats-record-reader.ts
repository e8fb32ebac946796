/**
 * Reads records of the NATS log by stream position (the events `forward`
 * control records name): those this process read from its partitions lately
 * from the read cache, the others as read-plan.ts plans them: ranges of one
 * partition by a consumer, the rest one request each.
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { LogRecord } from '../../core/event.ts';
import { Errors } from '../../core/errors.ts';
import { planReads, type RangeRead, type Wanted } from './read-plan.ts';
import type { RecordCache } from './record-cache.ts';

export interface NatsRecordReaderOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  subjectPrefix: string;
  partitions: number;
  cache: RecordCache;
}

export class NatsRecordReader {
  constructor(private readonly o: NatsRecordReaderOptions) {}

  /** See NatsEventLog.recordsAt. */
  async read(wanted: readonly Wanted[]): Promise<Map<number, LogRecord>> {
    const out = new Map<number, LogRecord>();
    for (const w of wanted) {
      const text = this.o.cache.get(w.position);
      if (text !== undefined) out.set(w.position, JSON.parse(text) as LogRecord);
    }
    const plan = planReads(out.size === 0 ? wanted : wanted.filter((w) => !out.has(w.position)), { partitions: this.o.partitions });
    try {
      await Promise.all(plan.ranges.map((r) => this.readRange(r, out)));
      // Not in the partition hinted (or not in the log): one request each.
      const rest = [...plan.singles, ...plan.ranges.flatMap((r) => r.positions.filter((p) => !out.has(p)))];
      await Promise.all(
        rest.map(async (seq) => {
          const m = await this.o.jsm.streams.getMessage(this.o.stream, { seq });
          if (m !== null) out.set(seq, m.json<LogRecord>());
        }),
      );
    } catch (e) {
      const err = Errors.storage('reading records by position from the NATS event log');
      err.cause = e;
      throw err;
    }
    return out;
  }

  /** One range of a read plan: the partition's messages from `from` to `to`, of which those asked for are parsed into `out`. */
  private async readRange(r: RangeRead, out: Map<number, LogRecord>): Promise<void> {
    const keep = new Set(r.positions);
    const consumer = await this.o.js.consumers.get(this.o.stream, { filter_subjects: `${this.o.subjectPrefix}.${r.partition}.*`, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: r.from });
    try {
      // Nothing from `from` on: a fetch would wait for its expiry.
      if ((await consumer.info()).num_pending === 0) return;
      for (let done = false; !done; ) {
        const batch = await consumer.fetch({ max_messages: Math.min(r.to - r.from + 1, 1000), expires: 5000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          if (keep.has(m.seq)) out.set(m.seq, m.json<LogRecord>());
          // Past the range, or the partition's last message.
          if (m.seq >= r.to || m.info.pending === 0) {
            done = true;
            batch.stop();
            break;
          }
        }
        if (got === 0) break;
      }
    } finally {
      await consumer.delete().catch(() => {});
    }
  }
}
