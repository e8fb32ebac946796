/**
 * The main thread's side of the state writer thread (state-writer-thread.ts):
 * the writes made while serving requests go there, so that waiting for the
 * engine's write lock never blocks the event loop. The thread starts on the
 * first write and answers in the order the writes were sent.
 */
import { Errors } from '../../core/errors.ts';
import { startThread, ThreadCalls } from '../../core/thread/index.ts';
import type { AuditRecord } from '../audit.ts';
import type { NewQuarantineRow } from '../store.ts';
import type { StateWriterInit, ToStateWriter } from './state-writer-protocol.ts';

export class SqliteStateWriter {
  private calls: ThreadCalls<ToStateWriter> | undefined;
  private closed = false;

  constructor(private readonly init: StateWriterInit) {}

  /**
   * Starts the thread now rather than at the first write, and resolves once
   * it answers: loading it takes a few hundred milliseconds of CPU, which the
   * first write would otherwise wait for, with the engine thread competing
   * for the cores meanwhile.
   */
  async ready(): Promise<void> {
    await this.thread().call({ type: 'ready' });
  }

  /** Stores data keys for subjects that have none (an existing key wins); the sealed key of every subject given. */
  async insertDataKeys(workspace: string, rows: ReadonlyArray<{ subject: string; sealed: string }>, createdAt: number): Promise<Map<string, string>> {
    return (await this.thread().call({ type: 'data-keys', workspace, rows, createdAt })) as Map<string, string>;
  }

  async appendAudit(records: readonly AuditRecord[]): Promise<void> {
    await this.thread().call({ type: 'audit', records });
  }

  /** Stores one quarantined message; its id. */
  async quarantine(row: NewQuarantineRow): Promise<number> {
    return (await this.thread().call({ type: 'quarantine', row })) as number;
  }

  /** Finishes the writes already sent, then stops the thread. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.calls === undefined) return;
    await this.calls.finish({ type: 'close' });
  }

  private thread(): ThreadCalls<ToStateWriter> {
    if (this.closed) throw Errors.closed();
    this.calls ??= new ThreadCalls(startThread(new URL('./state-writer-thread.ts', import.meta.url), this.init), (why) => Errors.storage(`writing to the state store (${why})`));
    return this.calls;
  }
}
