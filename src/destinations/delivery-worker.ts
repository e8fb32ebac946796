/**
 * The delivery loop of a process: turns outbox rows into deliveries (once per
 * destination and outbox seq), sends what is due, records each outcome,
 * schedules retries with backoff and dead-letters after the last try. Woken
 * by engine commits and by its own timer for the next due retry. Several
 * processes may run one over a shared store: the store's claims keep each
 * notification with one of them at a time.
 */
import type { Clock } from '../core/clock.ts';
import { backoffDelay } from './backoff.ts';
import { attempt, retryable, type FetchLike } from './sender.ts';
import type { DestinationStore } from './destination-store.ts';

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
  store: DestinationStore;
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
  /**
   * Whether the last pass found an enabled destination (assumed until a pass
   * looks). Without one, an engine commit has no one to notify: `committed()`
   * then leaves the store alone, and the idle loop looks again every
   * `idleMs` (a destination another process adds is found that way; its
   * cursor starts where the outbox stood when it was made, so nothing is missed).
   */
  private enabledSeen = true;

  constructor(private readonly d: WorkerDeps) {}

  /** Turns new outbox rows into deliveries for every enabled destination; returns how many were created. */
  async dispatch(beforeCommit?: () => void): Promise<number> {
    const { store, clock, options } = this.d;
    let created = 0;
    const destinations = await store.destinations();
    this.enabledSeen = destinations.some((dest) => dest.enabled);
    for (const dest of destinations) {
      if (!dest.enabled) continue;
      // Bounded per pass so one busy destination cannot starve the sending.
      for (let i = 0; i < 100; i++) {
        const r = await store.dispatch(dest, options.batchSize, clock.now(), beforeCommit);
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
      const due = await store.claimDue(now, options.concurrency, options.timeoutMs + 5_000);
      if (due.length === 0) return attempts;
      await Promise.all(
        due.map(async (dl) => {
          const r = await attempt({ url: dl.url, secret: dl.secret, deliveryId: dl.id, kind: dl.kind, body: dl.body, now: clock.now(), timeoutMs: options.timeoutMs }, this.d.fetch);
          const at = clock.now();
          if (r.ok) await store.delivered(dl, r.status, at);
          else {
            const n = dl.attempts + 1;
            const retryAt = n >= options.maxAttempts || !retryable(r.status) ? null : at + backoffDelay(n, { baseMs: options.backoffBaseMs, capMs: options.backoffCapMs }, this.d.rng ?? Math.random);
            await store.failed(dl, r.status, r.error, at, retryAt);
          }
        }),
      );
      attempts += due.length;
    }
  }

  /** One pass: dispatch, then send what is due. Passes never overlap. */
  runOnce(): Promise<{ created: number; attempts: number }> {
    return this.serial(async () => {
      const created = await this.dispatch();
      const attempts = await this.send();
      return { created, attempts };
    });
  }

  /** Runs `fn` after the pass in progress; stop() waits for it too. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Starts the background loop. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Something to do may have arrived (a destination made or enabled, a replay): run soon. */
  wake(): void {
    if (this.running) this.schedule(0);
  }

  /** An engine commit may have written notifications: run soon, unless the last pass found no enabled destination. */
  committed(): void {
    if (this.enabledSeen) this.wake();
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
      this.report(e);
    }
    if (!this.running) return;
    let due: number | undefined;
    try {
      // In the chain: a stop() in between waits for this read before the store closes.
      due = await this.serial(() => (this.running ? this.d.store.nextDueAt() : Promise.resolve(undefined)));
    } catch (e) {
      this.report(e);
    }
    if (!this.running) return;
    const idle = this.d.options.idleMs;
    this.schedule(due === undefined ? idle : Math.max(1, Math.min(idle, due - this.d.clock.now())));
  }

  private report(e: unknown): void {
    (this.d.onError ?? ((err) => process.stderr.write(`portrait destinations: delivery pass failed: ${String(err)}\n`)))(e);
  }

  /** Stops the loop and waits for the pass in progress (bounded by the request timeout). */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.chain;
  }
}
