/**
 * The rebuild fence of a deployment, held by the worker that rebuilds: once
 * raised, every other worker gives its partitions back at its next lease
 * round and takes none, so the rebuilding worker can lease every partition
 * before it clears anything. Fence and leases expire like any lease, so a
 * rebuilder that dies blocks the deployment for one lease timeout at most.
 */
import { Errors } from '../core/errors.ts';
import type { LeaseStore } from './lease-store.ts';

export class RebuildFence {
  /** Partitions leased for the rebuild whose engines have not started yet: partition → fencing token. */
  readonly reserved = new Map<number, number>();
  private epoch: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly leases: LeaseStore,
    private readonly workerId: string,
    private readonly partitions: number,
    /** How often the wait looks again (ms). */
    private readonly pollMs: number,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  /**
   * Raises the fence and waits until this worker holds every partition's
   * lease. After `waitMs` it lowers the fence, gives back what it took and
   * throws PORTRAIT_REBUILD_IN_PROGRESS (another rebuild holds the fence) or
   * PORTRAIT_REBUILD_BLOCKED (naming the workers still holding leases).
   * A worker whose lease expired is no obstacle.
   */
  async raise(waitMs: number): Promise<void> {
    const end = Date.now() + waitMs;
    for (;;) {
      this.epoch = await this.leases.raiseFence(this.workerId);
      if (this.epoch !== undefined) break;
      if (Date.now() >= end) throw Errors.rebuildInProgress(waitMs, (await this.leases.fence())?.owner ?? 'unknown');
      await pause(this.pollMs);
    }
    this.timer = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.leases.timeoutMs / 3)));
    this.timer.unref();
    try {
      for (;;) {
        for (let p = 0; p < this.partitions; p++) {
          if (this.reserved.has(p)) continue;
          const token = await this.leases.acquire(p, this.workerId);
          if (token !== undefined) this.reserved.set(p, token);
        }
        if (this.reserved.size === this.partitions) return;
        if (Date.now() >= end) throw Errors.rebuildBlocked(waitMs, await this.leases.holders(this.workerId));
        await pause(this.pollMs);
      }
    } catch (e) {
      await this.lift();
      throw e;
    }
  }

  /** Extends the fence and the leases reserved, every third of the lease timeout. */
  private async renew(): Promise<void> {
    const epoch = this.epoch;
    if (epoch === undefined) return;
    try {
      if (!(await this.leases.renewFence(this.workerId, epoch))) this.onError(new Error(`the rebuild fence (epoch ${epoch}) expired before the rebuild ended`));
      const kept = await this.leases.renew(this.workerId, this.reserved);
      for (const p of [...this.reserved.keys()]) if (!kept.has(p)) this.reserved.delete(p);
    } catch (e) {
      this.onError(e);
    }
  }

  /** Lowers the fence and gives back the reserved leases no engine took. */
  async lift(): Promise<void> {
    this.stop();
    const epoch = this.epoch;
    this.epoch = undefined;
    for (const [p, token] of this.reserved) await this.leases.release(p, this.workerId, token);
    this.reserved.clear();
    if (epoch !== undefined) await this.leases.lowerFence(this.workerId, epoch);
  }

  /** Stops renewing, lowering nothing (a frozen or killed process): the fence expires after the lease timeout. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
