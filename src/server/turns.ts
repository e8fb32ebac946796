/**
 * Ingest requests take turns with everything else the main thread does: a
 * waiting request starts (its body is read, parsed, validated, sealed and
 * handed to the log) only in the check phase of the event loop, one request
 * per turn of the loop. A read that arrives while batches pile up is served
 * in the next poll phase instead of after all of them: ingest throughput
 * is the same (the loop turns as fast as there is work), but no read waits
 * for more than one batch's work.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export class Turns {
  private readonly waiting: Array<() => void> = [];
  private scheduled = false;

  /** Resolves in a later check phase, in arrival order, one per turn of the loop. */
  take(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  /** How many requests wait for their turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /** A Fastify `onRequest` hook that waits for a turn. */
  readonly hook = (_req: FastifyRequest, _reply: FastifyReply): Promise<void> => this.take();

  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(this.grant);
  }

  private readonly grant = (): void => {
    this.scheduled = false;
    this.waiting.shift()?.();
    // Scheduled from the check phase, the next grant runs in the next turn, after that turn's poll phase.
    this.schedule();
  };
}
