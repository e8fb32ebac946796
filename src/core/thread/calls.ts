/**
 * Request and answer between a thread and the one that started it: each
 * call carries an id, the thread answers with the same id (a value or a
 * failure), and every call still waiting fails when the thread dies.
 */
import { parentPort, type Worker } from 'node:worker_threads';
import { Errors, isPortraitError, PortraitError } from '../errors.ts';

/** What a thread answers to a call. */
export type Answer = { id: number; ok: true; value: unknown } | { id: number; ok: false; code?: string; message: string };

interface Waiting {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** The calling side: `call(message)` posts `{ id, ...message }` and resolves with the thread's answer. */
export class ThreadCalls<M extends { type: string }> {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private failure: Error | undefined;

  /** `failed(why)` makes the error that calls reject with once the thread has died. */
  constructor(
    private readonly thread: Worker,
    private readonly failed: (why: string) => Error,
  ) {
    thread.on('message', (a: Answer) => this.answer(a));
    thread.on('error', (e) => this.fail(`its thread failed: ${e.message}`));
    thread.on('exit', () => this.fail('its thread exited'));
  }

  call(message: M): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.thread.postMessage({ ...message, id });
    });
  }

  /**
   * Sends `last` (the thread's own closing call: it finishes what was sent
   * before, then closes its files), waits for its answer, whatever it is,
   * and stops the thread.
   */
  async finish(last: M): Promise<void> {
    await this.call(last).catch(() => undefined);
    await this.terminate();
  }

  /** Stops the thread; calls still waiting fail. */
  async terminate(): Promise<void> {
    this.failure ??= this.failed('it was closed');
    await this.thread.terminate();
  }

  private answer(a: Answer): void {
    const w = this.waiting.get(a.id);
    if (w === undefined) return;
    this.waiting.delete(a.id);
    if (a.ok) w.resolve(a.value);
    else w.reject(new PortraitError(a.code ?? Errors.storage.code, a.message, 500));
  }

  private fail(why: string): void {
    this.failure ??= this.failed(why);
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
  }
}

/**
 * The answering side, inside the thread: runs `handle` for each call as it
 * arrives and posts its value (awaited) or its failure back.
 */
export function answerCalls<M extends { type: string }>(handle: (message: M) => unknown): void {
  const port = parentPort!;
  port.on('message', (m: M & { id: number }) => {
    const failed = (e: unknown): Answer =>
      isPortraitError(e) ? { id: m.id, ok: false, code: e.code, message: e.message } : { id: m.id, ok: false, message: e instanceof Error ? e.message : String(e) };
    let value: unknown;
    try {
      value = handle(m);
    } catch (e) {
      port.postMessage(failed(e));
      return;
    }
    Promise.resolve(value).then(
      (v) => port.postMessage({ id: m.id, ok: true, value: v } satisfies Answer),
      (e) => port.postMessage(failed(e)),
    );
  });
}
