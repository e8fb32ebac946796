/**
 * Checkpoints of the state file, run by a thread of their own instead of by
 * the engine's commits. A checkpoint copies the pages committed to the WAL
 * into the database file; run by the committing connection (SQLite's
 * auto-checkpoint), it stopped the engine for tens of milliseconds every few
 * hundred milliseconds at a steady 5,000 events/s, and every event waiting
 * behind that commit waited as long. The engine's connection keeps a far
 * larger auto-checkpoint as a backstop: it finishes what this thread left
 * and lets the WAL start over from its beginning even when commits never
 * pause long enough for a checkpoint here to catch up with them.
 */
import { Errors } from '../../core/errors.ts';
import { startThread, ThreadCalls } from '../../core/thread/index.ts';
import type { CheckpointInit, ToCheckpointer } from './checkpoint-protocol.ts';

/** Least time between two checkpoints (ms): a checkpoint copies each page once however often it changed since the last. */
const CHECKPOINT_EVERY_MS = 100;

/** WAL frames at which the committing connection checkpoints on its own (the backstop; SQLite's default is 1,000). */
export const BACKSTOP_CHECKPOINT_PAGES = 20_000;

export class Checkpointer {
  private readonly calls: ThreadCalls<ToCheckpointer>;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** A commit arrived while a checkpoint was running: run another after it. */
  private again = false;
  private last = 0;
  private failure: unknown;
  private closed = false;

  constructor(init: CheckpointInit) {
    this.calls = new ThreadCalls(startThread(new URL('./checkpoint-thread.ts', import.meta.url), init), (why) => Errors.storage(`checkpointing the state file (${why})`));
  }

  /** Resolves once the thread has loaded and run its first checkpoint. */
  async ready(): Promise<void> {
    await this.calls.call({ type: 'checkpoint' });
  }

  /** A commit was written: checkpoint soon, at most once per CHECKPOINT_EVERY_MS and one at a time. */
  written(): void {
    if (this.closed) return;
    if (this.running) this.again = true;
    else if (this.timer === undefined) this.schedule();
  }

  /** Throws (once) the error of a failed checkpoint, for the next commit to report. */
  check(): void {
    const e = this.failure;
    if (e === undefined) return;
    this.failure = undefined;
    throw e;
  }

  private schedule(): void {
    this.timer = setTimeout(() => this.run(), Math.max(0, this.last + CHECKPOINT_EVERY_MS - performance.now()));
    this.timer.unref();
  }

  private run(): void {
    this.timer = undefined;
    this.running = true;
    this.again = false;
    this.calls.call({ type: 'checkpoint' }).then(
      () => this.ran(),
      (e: unknown) => {
        if (!this.closed) this.failure = e;
        this.ran();
      },
    );
  }

  private ran(): void {
    this.running = false;
    this.last = performance.now();
    if (this.again && !this.closed) this.schedule();
  }

  /** Stops checkpointing and ends the thread (a checkpoint on its way finishes first). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.calls.finish({ type: 'close' });
  }
}
