/**
 * The embedded event log as the main thread uses it when Portrait runs on
 * files: appends go to a writer thread (which fsyncs there), reads use a
 * connection of this thread. An append still resolves only once durable, but
 * the wait no longer blocks this thread, so requests keep being answered
 * while a group commit is on its way to disk.
 */
import type { Worker } from 'node:worker_threads';
import type { LogRecord, PortraitEvent, Positioned } from '../../core/event.ts';
import { Errors, PortraitError } from '../../core/errors.ts';
import { startThread } from '../../core/thread/index.ts';
import type { AppendOutcome, EraseSelector, EventLog, PurgeFilter } from '../event-log.ts';
import { SqliteEventLog, type SqliteEventLogOptions } from './sqlite-event-log.ts';
import type { FromWriter, ToWriter } from './writer-protocol.ts';

interface Waiting {
  resolve: (m: FromWriter) => void;
  reject: (e: unknown) => void;
}

export class ThreadedEventLog implements EventLog {
  private lastPosition: number;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private readonly listeners = new Set<() => void>();
  private failure: PortraitError | undefined;
  private closed = false;

  private constructor(
    private readonly writer: Worker,
    private readonly reader: SqliteEventLog,
    head: number,
  ) {
    this.lastPosition = head;
    writer.on('message', (m: FromWriter) => this.onMessage(m));
    writer.on('error', (e) => this.fail(`its writer thread failed: ${e.message}`));
    writer.on('exit', () => this.fail('its writer thread exited'));
  }

  /** Starts the writer thread (which creates the log when needed), then opens this thread's reader. */
  static async open(opts: SqliteEventLogOptions): Promise<ThreadedEventLog> {
    const writer = startThread(new URL('./writer-thread.ts', import.meta.url), opts);
    const head = await new Promise<number>((resolve, reject) => {
      const onError = (e: Error) => reject(Errors.storage(`opening the event log (${e.message})`));
      writer.once('error', onError);
      writer.once('message', (m: FromWriter) => {
        writer.off('error', onError);
        if (m.type === 'ready') resolve(m.head);
        else reject(Errors.storage(`opening the event log (${m.type === 'failed' ? m.message : m.type})`));
      });
    });
    return new ThreadedEventLog(writer, new SqliteEventLog(opts), head);
  }

  private onMessage(m: FromWriter): void {
    if (m.type === 'ready') return;
    const w = this.waiting.get(m.id);
    if (w === undefined) return;
    this.waiting.delete(m.id);
    if (m.type === 'failed') w.reject(new PortraitError(m.code ?? Errors.storage('appending to the event log').code, m.message, 500));
    else w.resolve(m);
  }

  private fail(why: string): void {
    if (this.closed) return;
    this.failure ??= Errors.storage(`appending to the event log (${why})`);
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
  }

  private request(
    m: Omit<Extract<ToWriter, { type: 'append' }>, 'id'> | Omit<Extract<ToWriter, { type: 'expire' }>, 'id'> | Omit<Extract<ToWriter, { type: 'purge' }>, 'id'> | { type: 'close' },
  ): Promise<FromWriter> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.writer.postMessage({ ...m, id } as ToWriter);
    });
  }

  async append(records: readonly LogRecord[]): Promise<AppendOutcome[]> {
    if (this.closed) throw Errors.closed();
    if (records.length === 0) return [];
    const m = await this.request({ type: 'append', records });
    if (m.type !== 'appended') throw new Error(`engine invariant: the log writer answered ${m.type} to an append`);
    if (m.head > this.lastPosition) {
      this.lastPosition = m.head;
      for (const l of this.listeners) l();
    }
    return m.outcomes;
  }

  read(after: number, limit: number): Promise<Positioned[]> {
    return this.reader.read(after, limit);
  }

  head(): number {
    return this.lastPosition;
  }

  eventsFor(workspace: string, ids: { userIds: string[]; anonymousIds: string[] }, opts: { upTo?: number } = {}): Promise<Positioned<PortraitEvent>[]> {
    return this.reader.eventsFor(workspace, ids, { upTo: opts.upTo ?? this.lastPosition });
  }

  /** Deletes on this thread's connection (SQLite serialises it with the writer thread's appends). */
  erase(workspace: string, sel: EraseSelector, upTo: number): Promise<{ deleted: number; redacted: number }> {
    return this.reader.erase(workspace, sel, upTo);
  }

  groupEvents(workspace: string, groupId: string, opts: { upTo: number }): Promise<Positioned<PortraitEvent>[]> {
    return this.reader.groupEvents(workspace, groupId, opts);
  }

  /** Checkpoints and vacuums the log file (see SqliteEventLog.compact). */
  compact(): void {
    this.reader.compact();
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async expireDedup(before: number): Promise<number> {
    const m = await this.request({ type: 'expire', before });
    return m.type === 'expired' ? m.count : 0;
  }

  /** Deletes in the writer thread, which owns the only writing connection. */
  async purge(filter: PurgeFilter, opts: { dryRun?: boolean } = {}): Promise<Map<string, number>> {
    if (this.closed) throw Errors.closed();
    const m = await this.request({ type: 'purge', filter, dryRun: opts.dryRun === true });
    if (m.type !== 'purged') throw new Error(`engine invariant: the log writer answered ${m.type} to a purge`);
    return new Map(m.counts);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Appends already sent finish first: the writer handles messages in order.
    if (!this.failure) await this.request({ type: 'close' }).catch(() => undefined);
    this.closed = true;
    await this.writer.terminate();
    await this.reader.close();
  }
}
