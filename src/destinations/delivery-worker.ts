/**
 * The delivery loop in the main process: turns outbox rows into deliveries
 * (once per destination and outbox seq), sends what is due, records each
 * outcome, schedules retries with backoff and dead-letters after the last try.
 * Woken by engine commits and by its own timer for the next due retry.
 */
import type { Clock } from '../core/clock.ts';
import { backoffDelay } from './backoff.ts';
import { attempt, type FetchLike } from './sender.ts';
import type { SqliteDestinationStore } from './sqlite-destination-store.ts';

export interface DeliveryOptions {
  /** Ceiling of the first retry delay (ms); doubles per attempt. */
  backoffBaseMs: number;
  /** Largest retry delay ceiling (ms). */
  backoffCapMs: number;
  /** Attempts before a delivery becomes a dead letter. */
  maxAttempts: number;
  /** Per-request timeout (ms). */
  timeoutMs: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Outbox rows read per destination per transaction. */
  batchSize: number;
  /** Longest sleep of the loop when nothing is due (ms). */
  idleMs: number;
}

export interface WorkerDeps {
  store: SqliteDestinationStore;
  clock: Clock;
  options: DeliveryOptions;
  rng?: () => number;
  fetch?: FetchLike;
  onError?: (e: unknown) => void;
}

export class DeliveryWorker {
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private pending = false;

  constructor(private readonly d: WorkerDeps) {}

  /** Turns new outbox rows into deliveries for every enabled destination; returns how many were created. */
  dispatch(beforeCommit?: () => void): number {
    const { store, clock, options } = this.d;
    let created = 0;
    for (const dest of store.destinations()) {
      if (!dest.enabled) continue;
      // Bounded per pass so one busy destination cannot starve the sending.
      for (let i = 0; i < 100; i++) {
        const r = store.dispatch(dest, options.batchSize, clock.now(), beforeCommit);
        created += r.created;
        if (r.scanned < options.batchSize) break;
      }
    }
    return created;
  }

  /** Sends every delivery due now, `concurrency` at a time; returns the attempts made. */
  async send(): Promise<number> {
    const { store, clock, options } = this.d;
    let attempts = 0;
    for (;;) {
      const now = clock.now();
      const due = store.claimDue(now, options.concurrency, options.timeoutMs + 5_000);
      if (due.length === 0) return attempts;
      await Promise.all(
        due.map(async (dl) => {
          const r = await attempt({ url: dl.url, secret: dl.secret, deliveryId: dl.id, kind: dl.kind, body: dl.body, now: clock.now(), timeoutMs: options.timeoutMs }, this.d.fetch);
          const at = clock.now();
          if (r.ok) store.delivered(dl.id, r.status, at);
          else {
            const n = dl.attempts + 1;
            const retryAt = n >= options.maxAttempts ? null : at + backoffDelay(n, { baseMs: options.backoffBaseMs, capMs: options.backoffCapMs }, this.d.rng ?? Math.random);
            store.failed(dl.id, r.status, r.error, at, retryAt);
          }
        }),
      );
      attempts += due.length;
    }
  }

  /** One pass: dispatch, then send what is due. Passes never overlap. */
  runOnce(): Promise<{ created: number; attempts: number }> {
    const run = this.chain.then(async () => {
      const created = this.dispatch();
      const attempts = await this.send();
      return { created, attempts };
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Starts the background loop. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** New outbox rows may exist (an engine commit): run soon. */
  wake(): void {
    if (this.running) this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.pending && ms > 0) return;
    clearTimeout(this.timer);
    this.pending = ms === 0;
    this.timer = setTimeout(() => void this.loop(), ms);
    this.timer.unref();
  }

  private async loop(): Promise<void> {
    this.pending = false;
    if (!this.running) return;
    try {
      await this.runOnce();
    } catch (e) {
      (this.d.onError ?? ((err) => process.stderr.write(`portrait destinations: delivery pass failed: ${String(err)}\n`)))(e);
    }
    if (!this.running) return;
    const due = this.d.store.nextDueAt();
    const idle = this.d.options.idleMs;
    this.schedule(due === undefined ? idle : Math.max(1, Math.min(idle, due - this.d.clock.now())));
  }

  /** Stops the loop and waits for the pass in progress (bounded by the request timeout). */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.chain;
  }
}
