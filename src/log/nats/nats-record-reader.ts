/**
 * Reads records of the NATS log by stream position (the events `forward`
 * control records name): those this process read from its partitions lately
 * from the read cache, the others with one request each, all in flight
 * together. (Server 2.9 has no batched get; reading a range through an
 * ordered consumer and keeping the positions asked for measured slower than
 * these requests on a loaded machine, see BENCHMARKS.md "Scale-out".)
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { LogRecord } from '../../core/event.ts';
import { Errors } from '../../core/errors.ts';
import type { RecordCache } from './record-cache.ts';

export class NatsRecordReader {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly cache: RecordCache,
  ) {}

  /** See NatsEventLog.recordsAt. */
  async read(positions: readonly number[]): Promise<Map<number, LogRecord>> {
    const out = new Map<number, LogRecord>();
    const missing = new Set<number>();
    for (const p of positions) {
      if (out.has(p)) continue;
      const text = this.cache.get(p);
      if (text !== undefined) out.set(p, JSON.parse(text) as LogRecord);
      else missing.add(p);
    }
    try {
      await Promise.all(
        [...missing].map(async (seq) => {
          const m = await this.jsm.streams.getMessage(this.stream, { seq });
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
}
