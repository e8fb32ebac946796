/**
 * The event log on NATS JetStream, for scale-out deployments. One stream holds
 * every workspace; a record goes to subject `<prefix>.<partition>.<workspace>`,
 * its partition a hash of its profile key (src/log/partition.ts).
 *
 * Positions are JetStream stream sequence numbers: increasing over the whole
 * stream, and so also within each partition (where they have gaps). A worker
 * that owns a partition stores the last sequence it applied as that
 * partition's position; `readPartition` resumes after it.
 *
 * Deduplication has two layers: a KV bucket remembers (workspace, messageId)
 * for the dedup window (its TTL), checked before and written after each
 * publish; and every publish carries `Nats-Msg-Id: <workspace>:<messageId>`,
 * so JetStream's duplicate window also drops a retry or a concurrent twin that
 * the bucket has not recorded yet.
 */
import { createHash, randomUUID } from 'node:crypto';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { ControlRecord } from '../../core/control.ts';
import { asGroupEvent, groupIdsOf, isEvent, type LogRecord, type PortraitEvent, type Positioned } from '../../core/event.ts';
import { Errors } from '../../core/errors.ts';
import { keptByRetention, type AppendOutcome, type EventLog, type PurgeFilter } from '../event-log.ts';
import { partitionOf, partitionOfRecord } from '../partition.ts';
import { NatsRecordReader } from './nats-record-reader.ts';
import { RecordCache } from './record-cache.ts';

export interface NatsEventLogOptions {
  /** Server URL(s), e.g. nats://127.0.0.1:4222. */
  servers: string | string[];
  /** Stream name; default PORTRAIT_EVENTS. */
  stream?: string;
  /** Subject prefix; default: the stream name in lower case with `_` as `.` (PORTRAIT_EVENTS → `portrait.events`), so two streams never share subjects. */
  subjectPrefix?: string;
  /** Number of partitions; every process of a deployment must use the same. */
  partitions: number;
  /** How long a messageId is remembered (ms); default 7 days. */
  dedupWindowMs?: number;
  /** JetStream's own duplicate window (ms); default 2 minutes. */
  publishWindowMs?: number;
  /**
   * How much of the events read from partitions this process keeps, for
   * reading back the ones forwarded between the partitions it holds
   * (characters of JSON, about bytes); default 32 MiB, 0: none.
   */
  readCacheBytes?: number;
}

const DAY = 86_400_000;

export class NatsEventLog implements EventLog {
  private lastSeq = 0;
  private closed = false;
  /** Per subject: its message count and last sequence when last looked at (see partitionHeads). */
  private readonly subjectHeads = new Map<string, { count: number; last: number }>();
  private readonly listeners = new Set<() => void>();
  private readonly cache: RecordCache;
  private readonly reader: NatsRecordReader;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly dedup: KV,
    readonly stream: string,
    readonly subjectPrefix: string,
    readonly partitions: number,
    readCacheBytes: number,
  ) {
    this.cache = new RecordCache(readCacheBytes);
    this.reader = new NatsRecordReader(jsm, stream, this.cache);
  }

  /** Connects, creates the stream and the dedup bucket when absent, and reads the head. */
  static async open(opts: NatsEventLogOptions): Promise<NatsEventLog> {
    if (!Number.isInteger(opts.partitions) || opts.partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${opts.partitions}`);
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: opts.servers, timeout: 3000 });
    } catch (e) {
      const err = Errors.serviceUnavailable('NATS', String(opts.servers), (e as Error).message);
      err.cause = e;
      throw err;
    }
    const stream = opts.stream ?? 'PORTRAIT_EVENTS';
    const prefix = opts.subjectPrefix ?? subjectPrefixOf(stream);
    try {
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      const exists = await jsm.streams.info(stream).catch(() => null);
      if (!exists) {
        await jsm.streams.add({
          name: stream,
          subjects: [`${prefix}.>`],
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          duplicate_window: nanos(opts.publishWindowMs ?? 120_000),
        });
      }
      const dedup = await new Kvm(js).create(`${stream}_DEDUP`, { ttl: opts.dedupWindowMs ?? 7 * DAY, history: 1 });
      const log = new NatsEventLog(nc, js, jsm, dedup, stream, prefix, opts.partitions, opts.readCacheBytes ?? 32 * 1024 * 1024);
      await log.refreshHead();
      return log;
    } catch (e) {
      await nc.close();
      throw e;
    }
  }

  /** The subject of a partition and workspace. */
  subject(partition: number, workspace: string): string {
    return `${this.subjectPrefix}.${partition}.${workspace}`;
  }

  partitionOf(record: LogRecord): number {
    return partitionOfRecord(record, this.partitions);
  }

  async append(records: readonly LogRecord[]): Promise<AppendOutcome[]> {
    if (this.closed) throw Errors.closed();
    const outcomes: AppendOutcome[] = new Array(records.length).fill('duplicate');
    // Within one call: the first of a (workspace, messageId) wins.
    const firsts = new Map<string, number>();
    records.forEach((r, i) => {
      const id = msgId(r);
      if (!firsts.has(id)) firsts.set(id, i);
    });
    const candidates = [...firsts.entries()];
    const seen = await Promise.all(candidates.map(([id]) => this.dedup.get(dedupKey(id))));
    const fresh = candidates.filter((_, k) => seen[k] == null || seen[k]!.operation !== 'PUT');
    try {
      // Published in call order on one connection: sequences follow the order of `records`.
      const acks = await Promise.all(
        fresh.map(([id, i]) => {
          const r = records[i]!;
          return this.js.publish(this.subject(this.partitionOf(r), r.workspace), JSON.stringify(r), { msgID: id });
        }),
      );
      const marks: Promise<unknown>[] = [];
      acks.forEach((ack, k) => {
        const [id, i] = fresh[k]!;
        if (ack.duplicate) return;
        outcomes[i] = 'appended';
        if (ack.seq > this.lastSeq) this.lastSeq = ack.seq;
        marks.push(this.dedup.put(dedupKey(id), String(ack.seq)));
      });
      await Promise.all(marks);
    } catch (e) {
      const err = Errors.storage('appending to the NATS event log');
      err.cause = e;
      throw err;
    }
    for (const l of this.listeners) l();
    return outcomes;
  }

  /**
   * Partitioned workers: publishes control records to their partitions, in
   * order, without the dedup bucket (receivers apply each once by its
   * position of origin; the `Nats-Msg-Id` still drops a quick second publish).
   */
  async publishControl(records: readonly ControlRecord[]): Promise<void> {
    if (this.closed) throw Errors.closed();
    try {
      const acks = await Promise.all(records.map((r) => this.js.publish(this.subject(r.to, r.workspace), JSON.stringify(r), { msgID: msgId(r) })));
      for (const ack of acks) if (ack.seq > this.lastSeq) this.lastSeq = ack.seq;
    } catch (e) {
      const err = Errors.storage('publishing control records to the NATS event log');
      err.cause = e;
      throw err;
    }
    for (const l of this.listeners) l();
  }

  /** The record at a position (undefined when none: purged, or never there). A failed request throws PORTRAIT_STORAGE_FAILED. */
  async recordAt(position: number): Promise<LogRecord | undefined> {
    return (await this.recordsAt([position])).get(position);
  }

  /**
   * The records at these positions: events this process read from its
   * partitions lately come from memory, the others with one request each,
   * all in flight together. A position the log does not hold (purged, or
   * never there) is absent from the map; a failed request throws
   * PORTRAIT_STORAGE_FAILED, never reads as absent.
   */
  async recordsAt(positions: readonly number[]): Promise<Map<number, LogRecord>> {
    if (this.closed) throw Errors.closed();
    return this.reader.read(positions);
  }

  /** Records of every partition with position > `after`, in position order. */
  async read(after: number, limit: number): Promise<Positioned[]> {
    return this.readSubject(`${this.subjectPrefix}.>`, after, limit);
  }

  /** Records of one partition with position > `after`, in position order: what a partition's worker consumes. */
  async readPartition(partition: number, after: number, limit: number): Promise<Positioned[]> {
    return this.readSubject(`${this.subjectPrefix}.${partition}.*`, after, limit, true);
  }

  /**
   * Records matching `filter` after a position; with `keep`, the events among
   * them also go to the read cache. A failed request throws
   * PORTRAIT_STORAGE_FAILED (the engine retries from its committed position).
   */
  private async readSubject(filter: string, after: number, limit: number, keep = false): Promise<Positioned[]> {
    if (this.closed) throw Errors.closed();
    if (limit <= 0) return [];
    // A plain ephemeral consumer, not an ordered one: an ordered consumer's fetch re-creates its
    // consumer after a gap or a failed request, retrying without end once it has delivered, so a
    // loaded server could leave a read waiting forever; a plain one fails.
    const name = `read_${randomUUID().replaceAll('-', '')}`;
    let created = false;
    const out: Positioned[] = [];
    try {
      const last = await this.lastSeqOf(filter);
      if (last <= after) return [];
      const info = await this.jsm.consumers.add(this.stream, {
        name,
        filter_subject: filter,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: after + 1,
        ack_policy: AckPolicy.None,
        // Removed by the server if this process dies before it deletes the consumer.
        inactive_threshold: nanos(60_000),
        mem_storage: true,
        num_replicas: 1,
      });
      created = true;
      const consumer = this.js.consumers.getConsumerFromInfo(info);
      while (out.length < limit) {
        const batch = await consumer.fetch({ max_messages: Math.min(limit - out.length, 1000), expires: 5000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          const text = m.string();
          const record = JSON.parse(text) as LogRecord;
          if (keep && record.type !== 'control') this.cache.put(m.seq, text);
          out.push({ position: m.seq, record });
          if (m.seq >= last || out.length >= limit) {
            batch.stop();
            break;
          }
        }
        if (got === 0 || out[out.length - 1]!.position >= last) break;
      }
    } catch (e) {
      const err = Errors.storage('reading the NATS event log');
      err.cause = e;
      throw err;
    } finally {
      if (created) await this.jsm.consumers.delete(this.stream, name).catch(() => {});
    }
    return out;
  }

  /** The last sequence holding a message matching `filter` (0 when none). */
  private async lastSeqOf(filter: string): Promise<number> {
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: filter });
    if (filter === `${this.subjectPrefix}.>`) return info.state.last_seq;
    let last = 0;
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject }).catch(() => null);
      if (m && m.seq > last) last = m.seq;
    }
    return last;
  }

  head(): number {
    return this.lastSeq;
  }

  /** The last sequence of one partition (0 when it is empty), appends of other processes included. */
  async partitionHead(partition: number): Promise<number> {
    if (this.closed) throw Errors.closed();
    return this.lastSeqOf(`${this.subjectPrefix}.${partition}.*`);
  }

  /**
   * The last sequence of every partition holding messages. One stream request
   * while nothing changed: a subject's last message is fetched only when its
   * message count moved (the stream only grows: limits retention, no limits).
   */
  async partitionHeads(): Promise<Map<number, number>> {
    if (this.closed) throw Errors.closed();
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: `${this.subjectPrefix}.>` });
    const out = new Map<number, number>();
    for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
      let h = this.subjectHeads.get(subject);
      if (h === undefined || h.count !== count) {
        const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject }).catch(() => null);
        h = { count, last: m?.seq ?? 0 };
        this.subjectHeads.set(subject, h);
      }
      const partition = Number(subject.slice(this.subjectPrefix.length + 1).split('.', 1)[0]);
      out.set(partition, Math.max(out.get(partition) ?? 0, h.last));
    }
    return out;
  }

  /** Reads the stream's last sequence (appends of other processes included) into `head()`. */
  async refreshHead(): Promise<number> {
    const info = await this.jsm.streams.info(this.stream);
    this.lastSeq = Math.max(this.lastSeq, info.state.last_seq);
    return this.lastSeq;
  }

  /**
   * Reads the partitions these ids hash to, for this workspace only, and keeps
   * the events attributed to them (the SQLite log's rule: user ids first, then
   * anonymous ids of events without a user id). Cost grows with those partitions' size.
   */
  async eventsFor(workspace: string, ids: { userIds: string[]; anonymousIds: string[] }, opts: { upTo?: number } = {}): Promise<Positioned<PortraitEvent>[]> {
    const { userIds, anonymousIds } = ids;
    if (userIds.length === 0 && anonymousIds.length === 0) return [];
    const upTo = opts.upTo ?? this.lastSeq;
    const users = new Set(userIds);
    const anons = new Set(anonymousIds);
    const parts = new Set([...userIds, ...anonymousIds].map((k) => partitionOf(workspace, k, this.partitions)));
    const out: Positioned<PortraitEvent>[] = [];
    for (const p of parts) {
      for (const r of await this.readSubject(this.subject(p, workspace), 0, Number.MAX_SAFE_INTEGER)) {
        if (r.position > upTo || !isEvent(r.record)) continue;
        const e = r.record;
        if (e.userId !== undefined ? users.has(e.userId) : e.anonymousId !== undefined && anons.has(e.anonymousId)) out.push({ position: r.position, record: e });
      }
    }
    return out.sort((a, b) => a.position - b.position);
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Deletes nothing: JetStream could delete messages by sequence, but copies
   * (replicas, mirrors, backups) would keep them. An erasure on this log makes
   * the person's events unreadable instead, by destroying their data keys
   * (crypto-shredding: the engine's `onErased`), and the erase record, which
   * stays in the log, removes them from state again on a rebuild.
   */
  async erase(_workspace: string, _sel: unknown, _upTo: number): Promise<{ deleted: number; redacted: number }> {
    return { deleted: 0, redacted: 0 };
  }

  /** The events that count for a group (see `groupIdsOf`), in position order, up to a position: a scan of the workspace's subjects. */
  async groupEvents(workspace: string, groupId: string, opts: { upTo: number }): Promise<Positioned<PortraitEvent>[]> {
    const out: Positioned<PortraitEvent>[] = [];
    for (let after = 0; ; ) {
      const chunk = await this.readSubject(`${this.subjectPrefix}.*.${workspace}`, after, 5000);
      if (chunk.length === 0) break;
      after = chunk[chunk.length - 1]!.position;
      for (const p of chunk) {
        const r = p.position <= opts.upTo ? asGroupEvent(p.record) : undefined;
        if (r !== undefined && groupIdsOf(r).includes(groupId)) out.push({ position: p.position, record: r });
      }
      if (after >= opts.upTo) break;
    }
    return out;
  }

  /** The dedup bucket's TTL expires keys on the server: nothing to do here, so 0. */
  async expireDedup(_before: number): Promise<number> {
    return 0;
  }

  /**
   * Retention: reads the stream (one workspace's subjects when the filter
   * names one) in chunks and deletes each matching message by sequence, with
   * erase (the server overwrites the stored bytes). Cost grows with the
   * stream's size: this is scheduled background work.
   */
  async purge(filter: PurgeFilter, opts: { dryRun?: boolean } = {}): Promise<Map<string, number>> {
    if (this.closed) throw Errors.closed();
    const subjects = filter.workspace === undefined ? `${this.subjectPrefix}.>` : `${this.subjectPrefix}.*.${filter.workspace}`;
    const counts = new Map<string, number>();
    let after = 0;
    for (;;) {
      const chunk = await this.readSubject(subjects, after, 5000);
      if (chunk.length === 0) break;
      after = chunk[chunk.length - 1]!.position;
      for (const { position, record: r } of chunk) {
        if (!isEvent(r) || keptByRetention(r) || r.timestamp >= filter.before || (filter.upTo !== undefined && position > filter.upTo)) continue;
        if ((filter.workspace !== undefined && r.workspace !== filter.workspace) || (filter.type !== undefined && r.type !== filter.type)) continue;
        if (filter.event !== undefined && r.event !== filter.event) continue;
        if (!opts.dryRun) {
          try {
            await this.jsm.streams.deleteMessage(this.stream, position, true);
            this.cache.delete(position);
          } catch (e) {
            const err = Errors.storage('deleting events from the NATS event log');
            err.cause = e;
            throw err;
          }
        }
        counts.set(r.workspace, (counts.get(r.workspace) ?? 0) + 1);
      }
    }
    return counts;
  }

  /** Deletes the stream and its dedup bucket (tests, and `portrait` tooling that resets a deployment). */
  async destroy(): Promise<void> {
    await this.jsm.streams.delete(this.stream).catch(() => false);
    await this.dedup.destroy().catch(() => false);
    await this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.nc.drain();
  }
}

export function subjectPrefixOf(stream: string): string {
  return stream.toLowerCase().split(/_+/).filter((t) => t.length > 0).join('.');
}

/** `Nats-Msg-Id`: workspace names cannot hold ':', so the pair is unambiguous. */
function msgId(r: LogRecord): string {
  return `${r.workspace}:${r.messageId}`;
}

/** KV keys allow few characters: a digest of the message id. */
function dedupKey(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}
