/**
 * The main thread's handle on an engine running in a worker thread. Appends
 * stay on the main thread (the log's writer); the worker folds and commits,
 * so a long commit never stalls ingest or reads.
 */
import type { Worker } from 'node:worker_threads';
import type { Clock } from '../../core/clock.ts';
import { PortraitError } from '../../core/errors.ts';
import { runV8HelpersInBackground, startThread } from '../../core/thread/index.ts';
import type { EngineHandle } from '../handle.ts';
import type { EventLog } from '../../log/index.ts';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.ts';

/**
 * The engine thread's young generation (twice a thread's default): a step's
 * trait history and changed documents live until their commit, and with the
 * default size most of them are copied by several scavenges first. Measured
 * on the benchmark workload, this takes a third off the fold's CPU time.
 */
const ENGINE_YOUNG_GENERATION_MB = 96;

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class WorkerEngine implements EngineHandle {
  private readonly worker: Worker;
  private position = 0;
  private nextId = 1;
  private readonly drains = new Map<number, Waiter>();
  private starting: Waiter | undefined;
  private stopping: Waiter | undefined;
  private unsubscribe: (() => void) | undefined;
  private failure: PortraitError | undefined;
  private exited = false;
  private readonly commitListeners = new Set<(position: number) => void>();

  /** `clock`: an injected clock whose time is sent with every message (the thread follows it). */
  constructor(init: WorkerInit, private readonly log: EventLog, private readonly clock?: Clock) {
    this.worker = startThread(new URL('./engine-worker.ts', import.meta.url), init, { maxYoungGenerationSizeMb: ENGINE_YOUNG_GENERATION_MB });
    // The engine's garbage is most of what V8's helper threads collect: they run in the background too.
    runV8HelpersInBackground();
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (e) => this.fail(new PortraitError('PORTRAIT_ENGINE_FAILED', `The engine thread failed: ${e.message}`, 500)));
    this.worker.on('exit', () => {
      this.exited = true;
      this.fail(new PortraitError('PORTRAIT_ENGINE_FAILED', 'The engine thread exited.', 500));
    });
  }

  /** Tells the thread to drop cached data keys that were destroyed (crypto-shredding). */
  forgetKeys(workspace: string, subjects: string[]): void {
    this.send({ type: 'forget-keys', workspace, subjects });
  }

  /**
   * Hands the thread data keys this thread just created, before the events
   * sealed with them are appended: it would otherwise look each one up and
   * open it again when it reads them. One buffer of exactly their bytes
   * (a key is a view on a larger pooled buffer, which posting would copy whole).
   */
  learnKeys(workspace: string, keys: ReadonlyMap<string, Buffer>): void {
    const subjects = [...keys.keys()];
    this.send({ type: 'learn-keys', workspace, subjects, keys: Buffer.concat([...keys.values()]) });
  }

  private send(m: ToWorker): void {
    if (!this.exited) this.worker.postMessage(this.clock ? { ...m, now: this.clock.now() } : m);
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'started':
        this.position = m.position;
        this.starting?.resolve();
        this.starting = undefined;
        break;
      case 'committed':
        this.position = Math.max(this.position, m.position);
        for (const l of this.commitListeners) l(this.position);
        break;
      case 'drained':
        this.drains.get(m.id)?.resolve();
        this.drains.delete(m.id);
        break;
      case 'drain-failed':
        this.drains.get(m.id)?.reject(new PortraitError(m.code ?? 'PORTRAIT_ENGINE_FAILED', m.message, 500));
        this.drains.delete(m.id);
        break;
      case 'stopped':
        this.position = m.position;
        this.stopping?.resolve();
        this.stopping = undefined;
        break;
      case 'error': {
        const e = new PortraitError(m.code ?? 'PORTRAIT_ENGINE_FAILED', m.message, 500);
        this.starting?.reject(e);
        this.starting = undefined;
        break;
      }
      default: {
        const never: never = m;
        throw new Error(`unknown message ${JSON.stringify(never)}`);
      }
    }
  }

  private fail(e: PortraitError): void {
    this.failure ??= e;
    for (const w of [...this.drains.values(), this.starting, this.stopping]) w?.reject(e);
    this.drains.clear();
    this.starting = undefined;
    this.stopping = undefined;
  }

  start(opts: { bulk?: boolean } = {}): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.unsubscribe ??= this.log.onAppend(() => this.send({ type: 'appended', head: this.log.head() }));
    return new Promise((resolve, reject) => {
      this.starting = { resolve, reject };
      this.send({ type: 'start', bulk: opts.bulk === true });
    });
  }

  stop(): Promise<void> {
    if (this.failure || this.exited) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.stopping = { resolve, reject };
      this.send({ type: 'stop' });
    });
  }

  drain(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.drains.set(id, { resolve, reject });
      this.send({ type: 'drain', id, head: this.log.head() });
    });
  }

  onCommit(listener: (position: number) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  kick(): void {
    this.send({ type: 'kick' });
  }

  lag(): number {
    return Math.max(0, this.log.head() - this.position);
  }

  committedPosition(): number {
    return this.position;
  }

  /** Stops the engine and ends the thread. */
  async close(): Promise<void> {
    await this.stop().catch(() => undefined);
    this.unsubscribe?.();
    this.exited = true;
    await this.worker.terminate();
  }
}
