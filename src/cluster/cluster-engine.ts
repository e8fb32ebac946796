/**
 * The engine of a scale-out node: it holds leases on its fair share of the
 * partitions and runs one ordinary engine per partition it holds, each
 * reading only its partition and fencing every commit with the partition
 * position. An API-only node runs no engine and only follows progress (for
 * `drain()`, `lag()` and readiness). While another worker's rebuild fence is
 * live it holds nothing; while its own is, it holds every partition.
 */
import { isPortraitError, Errors } from '../core/errors.ts';
import { Engine, type EngineOptions } from '../engine/engine.ts';
import type { EngineHandle } from '../engine/handle.ts';
import type { Definitions } from '../engine/definitions.ts';
import type { EventLog } from '../log/index.ts';
import type { NatsEventLog } from '../log/nats/nats-event-log.ts';
import type { StateStore } from '../storage/index.ts';
import type { LeaseStore } from './lease-store.ts';
import { PartitionLog } from './partition-log.ts';
import { ControlPublisher, type ControlOutbox } from './control-publisher.ts';
import { RebuildFence } from './rebuild-fence.ts';

/** What followDefinitions compares between two polls. */
export interface DefinitionsFingerprint {
  versions: string;
  status: string;
}

export interface ClusterEngineOptions {
  log: NatsEventLog;
  store: StateStore;
  leases: LeaseStore;
  /** Control records waiting to be published (see ControlPublisher), and how many wait over all partitions. */
  outbox: ControlOutbox & { controlWaiting(): Promise<number> };
  workerId: string;
  partitions: number;
  /** false (API-only node): hold no lease and run no engine. */
  work: boolean;
  /** The options of the engine of one partition (its log is the partition's view; its definitions carry that partition's backfill progress). */
  engineOptions: (partition: number, log: EventLog, definitions: Definitions) => EngineOptions;
  /** Loads the trait definitions for one partition (see loadPartitionDefinitions). */
  definitions: (partition: number) => Promise<Definitions>;
  /**
   * Polled with progress: `versions` changes whenever a definition is added,
   * changed or removed (the partitions held restart with them); `status`
   * whenever one goes live or back to backfilling (only this node's view is
   * read again).
   */
  definitionsFingerprint: () => Promise<DefinitionsFingerprint>;
  /** Called when either fingerprint changed (another node changed the definitions, or a backfill started or ended). */
  onDefinitionsChanged?: () => void;
  /** How often partition heads and positions are polled (ms); default 50. */
  pollMs?: number;
  onError?: (e: unknown) => void;
}

interface Held {
  token: number;
  log: PartitionLog;
  engine: Engine;
  publisher: ControlPublisher;
}

export class ClusterEngine implements EngineHandle {
  private readonly held = new Map<number, Held>();
  private readonly listeners = new Set<(position: number) => void>();
  private timer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private headTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private ticking: Promise<void> | undefined;
  /** Partitions being taken over (leased, engine not registered in `held` yet): partition → fencing token. */
  private readonly taking = new Map<number, number>();
  private keeping = false;
  private running = false;
  private bulk = false;
  private highest = 0;
  private lagEstimate = 0;
  private readonly pollMs: number;
  private fingerprint: DefinitionsFingerprint | undefined;
  /** When the last renewal of this worker's leases was sent (Date.now()). */
  private renewedAt = 0;
  /** This node's rebuild fence, from `fenceOthers()` to `liftFence()`. */
  private fence: RebuildFence | undefined;

  constructor(private readonly o: ClusterEngineOptions) {
    this.pollMs = o.pollMs ?? 50;
  }

  /** This node's worker id (its name in the lease table). */
  get workerId(): string {
    return this.o.workerId;
  }

  /** False on an API-only node, which runs no engine. */
  get works(): boolean {
    return this.o.work;
  }

  /** Partitions this node holds now. */
  partitionsHeld(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  async start(opts: { bulk?: boolean } = {}): Promise<void> {
    this.running = true;
    this.bulk = opts.bulk === true;
    // Taken before any engine loads the definitions: a change made from now on restarts them.
    this.fingerprint = await this.o.definitionsFingerprint();
    if (this.o.work) {
      // The timer first: while the first round takes partitions over, it keeps their leases alive (see tick).
      this.timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(this.o.leases.timeoutMs / 3)));
      this.timer.unref();
      await this.tick();
      this.headTimer = setInterval(() => void this.pollHeads(), this.pollMs);
      this.headTimer.unref();
    }
    this.progressTimer = setInterval(() => void this.progress().catch(() => undefined), 1000);
    this.progressTimer.unref();
  }

  /**
   * One lease round: heartbeat, renew, drop what was lost, take or give back
   * partitions towards the fair share. While a round (or a restart) is still
   * running, the timer's tick only keeps the leases alive.
   */
  private tick(): Promise<void> {
    if (this.ticking) {
      void this.keepAlive();
      return this.ticking;
    }
    this.ticking = this.balance()
      .catch((e: unknown) => this.o.onError?.(e))
      .finally(() => {
        this.ticking = undefined;
      });
    return this.ticking;
  }

  private async balance(): Promise<void> {
    if (!this.running) return;
    const { leases, workerId, partitions } = this.o;
    const alive = await this.renew();
    const fence = this.fence === undefined ? await leases.fence() : undefined;
    if (fence !== undefined && fence.owner !== workerId) {
      // Another worker is rebuilding: commit what was folded, give every partition back and take none until it ends.
      for (const p of this.partitionsHeld()) await this.drop(p, true);
      return;
    }
    // Rebuilding here: the partitions leased for it start first, and this node keeps them all.
    const reserved = this.fence?.reserved ?? new Map<number, number>();
    for (const [p, token] of [...reserved]) {
      if (!this.running) return;
      reserved.delete(p);
      await this.take(p, token);
      await this.renewIfDue();
    }
    const share = this.fence !== undefined ? partitions : Math.ceil(partitions / Math.max(1, alive));
    // Give back the highest partitions beyond the share, so a worker that joined can take them.
    for (const p of this.partitionsHeld().reverse()) {
      if (this.held.size <= share) break;
      await this.drop(p, true);
      await this.renewIfDue();
    }
    // Control records left unpublished (a failed publish, or a previous holder that died after its commit).
    for (const h of this.held.values()) h.publisher.kick();
    if (this.held.size >= share || !this.running) return;
    for (const p of await leases.free(partitions)) {
      if (this.held.size >= share || !this.running) break;
      const token = await leases.acquire(p, workerId);
      if (token === undefined) continue;
      await this.take(p, token);
      await this.renewIfDue();
    }
  }

  /**
   * Heartbeat and lease renewal: extends this worker's registration and the
   * leases it holds, and stops the partitions whose lease it lost. Returns
   * how many workers are alive.
   */
  private async renew(): Promise<number> {
    const { leases, workerId } = this.o;
    const at = Date.now();
    const alive = await leases.heartbeat(workerId);
    const kept = await leases.renew(workerId, new Map([...this.held].map(([p, h]) => [p, h.token])));
    this.renewedAt = at;
    for (const p of [...this.held.keys()]) if (!kept.has(p)) await this.drop(p, false);
    return alive;
  }

  /**
   * Heartbeat and renewal of the leases held and being taken over, dropping
   * nothing (the round in progress does that): taking one partition over
   * (loading its definitions, starting its engine) can outlast the lease
   * timeout on a loaded machine, and the leases of the round must not lapse
   * meanwhile. A lease already lost is not renewed (renewal is fenced by
   * token and expiry).
   */
  private async keepAlive(): Promise<void> {
    if (this.keeping || !this.running) return;
    this.keeping = true;
    try {
      await this.o.leases.heartbeat(this.o.workerId);
      await this.o.leases.renew(this.o.workerId, new Map([...[...this.held].map(([p, h]) => [p, h.token] as const), ...this.taking]));
    } catch (e) {
      this.o.onError?.(e);
    } finally {
      this.keeping = false;
    }
  }

  /**
   * Renews after each step of a lease round or a restart once a third of the
   * lease timeout has passed since the last renewal. Taking a partition
   * over (loading its definitions, starting its engine) takes a while on a
   * loaded machine; a round taking several would otherwise outlast the
   * timeout and let the leases it already held lapse (they were then stopped
   * and taken again, or taken by another worker).
   */
  private async renewIfDue(): Promise<void> {
    if (Date.now() - this.renewedAt >= this.o.leases.timeoutMs / 3) await this.renew();
  }

  /** One look at every partition's head (one request while nothing changed), passed to the engines of the partitions held. */
  private async pollHeads(): Promise<void> {
    if (this.polling || this.held.size === 0) return;
    this.polling = true;
    try {
      const heads = await this.o.log.partitionHeads();
      for (const [p, h] of this.held) h.log.advance(heads.get(p) ?? 0);
    } catch {
      // NATS unreachable for a moment: the next poll tries again.
    } finally {
      this.polling = false;
    }
  }

  /** Starts the engine of a partition just leased: it resumes from the partition's committed position. */
  private async take(partition: number, token: number): Promise<void> {
    this.taking.set(partition, token);
    try {
      await this.startEngine(partition, token);
    } finally {
      this.taking.delete(partition);
    }
  }

  /** Registers the partition's engine in `held` and starts it. */
  private async startEngine(partition: number, token: number): Promise<void> {
    const log = new PartitionLog(this.o.log, partition);
    await log.refresh();
    const definitions = await this.o.definitions(partition);
    const engine: Engine = new Engine({
      ...this.o.engineOptions(partition, log, definitions),
      partition,
      partitions: this.o.partitions,
      fenced: true,
      leaseToken: token,
      onError: (e) => this.engineFailed(partition, engine, e),
      // A record made under newer trait versions than this engine's: it restarts with the stored ones first.
      onDefinitionsBehind: () => void this.restart([partition]),
    });
    const publisher = new ControlPublisher(this.o.outbox, this.o.log, partition, (e) => this.o.onError?.(e));
    engine.onCommit((position) => {
      publisher.kick();
      if (position > this.highest) this.highest = position;
      for (const l of this.listeners) l(position);
    });
    this.held.set(partition, { token, log, engine, publisher });
    publisher.kick();
    await engine.start({ bulk: this.bulk });
  }

  /**
   * A stale write means another worker advanced the partition: the engine
   * already reloaded the stored position; it resumes from there while the
   * lease is still ours (the next renewal tells). Other failures (a database
   * restart) are retried after a pause.
   */
  private engineFailed(partition: number, engine: Engine, e: unknown): void {
    const stale = isPortraitError(e) && e.code === Errors.staleWriter.code;
    if (!stale) this.o.onError?.(e);
    const t = setTimeout(() => {
      if (this.held.get(partition)?.engine !== engine) return;
      // Stale: another writer moved the partition on; its definitions' backfill progress is read again with the position.
      if (stale) void this.restart([partition]);
      else engine.resume();
    }, stale ? 0 : 500);
    t.unref();
  }

  /** Stops a partition's engine; `release` (still ours) gives the lease back at once. */
  private async drop(partition: number, release: boolean): Promise<void> {
    const h = this.held.get(partition);
    if (h === undefined) return;
    this.held.delete(partition);
    await h.engine.stop().catch((e: unknown) => {
      if (!(isPortraitError(e) && e.code === Errors.staleWriter.code)) this.o.onError?.(e);
    });
    h.publisher.kick();
    await h.publisher.close();
    await h.log.close();
    if (release) await this.o.leases.release(partition, this.o.workerId, h.token).catch(() => undefined);
  }

  /** Committed position and head of every partition. */
  private async positions(): Promise<Array<{ committed: number; head: number }>> {
    const out: Array<{ committed: number; head: number }> = [];
    const heads = await this.o.log.partitionHeads();
    for (let p = 0; p < this.o.partitions; p++) {
      const committed = await this.o.store.position(p);
      out.push({ committed, head: heads.get(p) ?? 0 });
      if (committed > this.highest) this.highest = committed;
    }
    return out;
  }

  private async progress(): Promise<void> {
    await this.followDefinitions();
    const all = await this.positions();
    // Sequences are shared by all partitions: a partition's gap counts about one in `partitions` of them.
    this.lagEstimate = Math.round(all.reduce((n, x) => n + Math.max(0, x.head - x.committed), 0) / this.o.partitions);
  }

  /**
   * Definitions changed (on any node): each partition held here commits what
   * it folded and restarts with them, starting the backfill of a new version
   * over its own log. A status change alone (a partition started or ended a
   * backfill) only has this node read its view again.
   */
  private async followDefinitions(): Promise<void> {
    const f = await this.o.definitionsFingerprint();
    const was = this.fingerprint;
    this.fingerprint = f;
    if (was === undefined || (f.versions === was.versions && f.status === was.status)) return;
    this.o.onDefinitionsChanged?.();
    if (f.versions !== was.versions) await this.restart([...this.held.keys()]);
  }

  /** Restarts the engines of some partitions held here (still under the same lease), reloading what they start from. */
  private async restart(partitions: readonly number[]): Promise<void> {
    // Lease rounds wait meanwhile: they must not see a partition between its stop and restart.
    while (this.ticking) await this.ticking;
    const run = async () => {
      for (const p of partitions) {
        const h = this.held.get(p);
        if (!this.running || h === undefined) continue;
        await this.drop(p, false);
        await this.take(p, h.token);
        await this.renewIfDue();
      }
    };
    this.ticking = run()
      .catch((e: unknown) => this.o.onError?.(e))
      .finally(() => {
        this.ticking = undefined;
      });
    await this.ticking;
  }

  /**
   * Resolves once every partition (held here or elsewhere) has committed what
   * its log held at the call, and what that made: the control records those
   * commits sent to other partitions are published and committed there too;
   * and the partitions held here have no backfill or due re-evaluation waiting.
   */
  async drain(): Promise<void> {
    let heads = await this.o.log.partitionHeads();
    for (;;) {
      await this.reach(heads);
      if ((await this.o.outbox.controlWaiting()) > 0) {
        await new Promise((r) => setTimeout(r, this.pollMs));
        heads = await this.o.log.partitionHeads();
        continue;
      }
      // Published before the outbox emptied: a head that moved shows it.
      const now = await this.o.log.partitionHeads();
      if ([...now].every(([p, h]) => (heads.get(p) ?? 0) >= h)) return;
      heads = now;
    }
  }

  /** Waits until every partition's committed position reaches its head in `heads`. */
  private async reach(heads: ReadonlyMap<number, number>): Promise<void> {
    const targets = Array.from({ length: this.o.partitions }, (_, p) => heads.get(p) ?? 0);
    for (;;) {
      for (const h of this.held.values()) {
        h.log.advance(targets[h.log.partition]!);
        h.engine.kick();
      }
      let done = true;
      for (let p = 0; p < this.o.partitions && done; p++) if ((await this.o.store.position(p)) < targets[p]!) done = false;
      for (const h of this.held.values()) if (h.engine.busy()) done = false;
      if (done) return;
      for (const h of this.held.values()) if (h.engine.lastError !== undefined && !isPortraitError(h.engine.lastError)) throw h.engine.lastError;
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  kick(): void {
    for (const h of this.held.values()) {
      void h.log.refresh();
      h.engine.kick();
    }
  }

  /** An estimate of the records waiting, over all partitions (refreshed every second). */
  lag(): number {
    return this.lagEstimate;
  }

  /** The highest committed position seen on any partition (positions are stream sequences). */
  committedPosition(): number {
    return this.highest;
  }

  onCommit(listener: (position: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Before a rebuild: commits and gives back what this node holds, raises
   * the deployment's rebuild fence and waits (up to `waitMs`) until it
   * leases every partition, the other workers having given theirs back
   * (see RebuildFence.raise for the errors when they do not; this node is
   * stopped then, as after stop()). `start()` then runs every partition here
   * until `liftFence()`.
   */
  async fenceOthers(waitMs: number): Promise<void> {
    await this.stop();
    const fence = new RebuildFence(this.o.leases, this.o.workerId, this.o.partitions, this.pollMs, (e) => this.o.onError?.(e));
    await fence.raise(waitMs);
    this.fence = fence;
  }

  /** After a rebuild: lowers the fence; this node gives back the partitions beyond its fair share, which the other workers take. */
  async liftFence(): Promise<void> {
    const fence = this.fence;
    if (fence === undefined) return;
    while (this.ticking) await this.ticking;
    this.fence = undefined;
    await fence.lift();
    await this.tick();
  }

  /** Stops the timers and waits for a lease round (or a restart) in progress. */
  private async halt(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    clearInterval(this.progressTimer);
    clearInterval(this.headTimer);
    await this.ticking;
  }

  /**
   * Stops renewing and processing without committing or giving anything back,
   * as a frozen or killed process would: its leases expire after the timeout
   * (failure drills and tests).
   */
  async suspend(): Promise<void> {
    await this.halt();
    this.fence?.stop();
    for (const [p, h] of this.held) {
      this.held.delete(p);
      await h.log.close();
      h.engine.abandon();
      await h.publisher.close();
    }
  }

  /** Commits what each engine folded, gives every lease back and leaves the cluster. */
  async stop(): Promise<void> {
    await this.halt();
    for (const p of this.partitionsHeld()) await this.drop(p, true);
    const fence = this.fence;
    this.fence = undefined;
    await fence?.lift();
    if (this.o.work) await this.o.leases.leave(this.o.workerId).catch(() => undefined);
  }
}
