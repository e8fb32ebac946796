/**
 * The engine: the only writer of profile state. It reads the log in order,
 * resolves identities, folds events into profiles, and commits the state
 * together with its log position in one transaction, so a crash at any
 * instant neither loses nor double-counts an event. It also runs definition
 * backfills and unmerges, both recorded so a rebuild repeats them exactly.
 */
import type { Clock } from '../core/clock.ts';
import { isEvent, type EraseRecord, type GroupTagRecord, type PortraitEvent, type Positioned, type UnlinkRecord } from '../core/event.ts';
import { applyErasure } from '../privacy/erasure.ts';
import type { ProfileDoc } from '../core/profile.ts';
import { consentAllows } from '../profile/index.ts';
import { componentOf, identifiersOf, type EmailHasher, type EventIdentifiers, type GuardOptions } from '../identity/index.ts';
import type { EventLog } from '../log/index.ts';
import type { CommitCause, LiveSegments } from '../segments/index.ts';
import type { StateStore } from '../storage/index.ts';
import { emptyChangeset, scoped } from '../storage/index.ts';
import { LruCache } from './cache.ts';
import type { Definitions } from './definitions.ts';
import type { EngineHandle } from './handle.ts';
import { adoptConsentState, foldProfile } from './replay.ts';
import { logIdsOf } from '../core/identity.ts';
import { diffDocs, identKeysOf, Step, type StepContext } from './step.ts';
import { profileIdFor } from './profile-id.ts';
import { ClusterStep, markApplied } from './cluster-step.ts';
import { controlKeysOf } from './control-keys.ts';
import { BlockedLinks } from './blocked-links.ts';
import { awayTarget, type ControlRecord } from '../core/control.ts';
import { ErasedIdentifiers } from './erased.ts';
import { PartitionErasure, type Forgotten } from './partition-erasure.ts';
import type { ErasedIdentifier, StoredBackfill } from '../storage/index.ts';
import { Backfilled } from './cluster-backfill.ts';

export interface EngineOptions {
  log: EventLog;
  store: StateStore;
  definitions: Definitions;
  clock: Clock;
  hashEmail: EmailHasher;
  guards: GuardOptions;
  /** Most log records folded per transaction. */
  batchSize: number;
  /**
   * The same while catching up: after `start({ bulk: true })` (a rebuild), and
   * for a step that begins more than `batchSize` records behind the log's head.
   */
  rebuildBatchSize: number;
  /** Most log records read at a time. */
  readSize: number;
  /** Longest a folded event waits before its state is committed (write-behind window, ms). */
  commitIntervalMs: number;
  /** Bound of the hot-profile cache (entries). */
  cacheProfiles: number;
  backfillChunk: number;
  partition?: number;
  /**
   * Partitioned workers: every commit expects the partition position this
   * engine last committed (PORTRAIT_STALE_WRITER otherwise), so a worker
   * whose lease moved on cannot overwrite the new owner's state.
   */
  fenced?: boolean;
  /**
   * Partitioned workers: the fencing token of the lease held on the
   * partition; every commit fails with PORTRAIT_STALE_WRITER once the lease
   * moved on, including those that do not move the position.
   */
  leaseToken?: number;
  /**
   * Partitioned workers: how many partitions there are. Trait backfill
   * progress is then kept per partition (Changeset.backfills) instead of in
   * the shared definition rows.
   */
  partitions?: number;
  /** Partitioned workers (more than one partition): identity routes and control records (see cluster-step.ts). */
  partitioned?: PartitionedOptions;
  onError?: (e: unknown) => void;
  /** Segment and tag memberships kept live with the state (absent: none). */
  segments?: LiveSegments;
  /** Called after each commit with the new position and the events' processing times. */
  onCommit?: (position: number, events: number) => void;
  /** Called once an erasure is committed, with the identifier keys it removed (to destroy their data keys). */
  onErased?: (workspace: string, identKeys: readonly string[]) => Promise<void>;
  /**
   * Partitioned workers: the engine met a record made under trait versions
   * other than its own, and its own are no longer the stored ones. It has
   * committed what came before that record and stopped: it is to be started
   * again with the stored definitions (their backfills begin at the position
   * it committed), and then applies the record under the same versions as
   * its sender. Without it, the engine does not look.
   */
  onDefinitionsBehind?: () => void;
}

/** Partitioned: how often an engine waiting for another partition to commit looks again (ms). */
const SENDER_POLL_MS = 20;

/** The partition that made a `forget` record and the position it made it at, when another partition made it. */
function forgetFromElsewhere(row: Positioned, partition: number): { from: number; at: number } | undefined {
  const r = row.record;
  return r.type === 'control' && r.body.kind === 'forget' && r.from !== partition ? r : undefined;
}

/** What a partition engine of a scale-out deployment needs beyond the store's common methods. */
export interface PartitionedOptions {
  /** The partition an identifier key is homed in. */
  homeOf: (workspace: string, ident: string) => number;
  /** This partition's routes of some identifiers (a profile id, or `>N`). */
  routes: (keys: ReadonlyArray<{ workspace: string; ident: string }>) => Promise<Map<string, string>>;
  /** The last control record this partition applied, per source partition, as committed. */
  applied: () => Promise<Map<number, { at: number; index: number }>>;
  /** Every partition's committed position. */
  positions: () => Promise<Map<number, number>>;
  /** Opens the sealed values of a handed-over profile document. */
  openDoc: (doc: ProfileDoc) => ProfileDoc;
  /** The links this partition's unmerges removed. */
  blocks: () => Promise<Array<{ workspace: string; a: string; b: string }>>;
  /** This partition's erased identifiers, as committed. */
  erased: () => Promise<ErasedIdentifier[]>;
  /** The keyed hash an erased identifier key is kept under (never the key itself). */
  hashIdent: (workspace: string, identKey: string) => string;
  /** Every partition's trait backfills, as stored (each partition's version and target of each definition). */
  backfills: () => Promise<StoredBackfill[]>;
  /** The last control record this partition made (committed, published or not). */
  lastControl: () => Promise<{ at: number; index: number } | undefined>;
  /** The fingerprint of the stored trait definitions' versions (traitVersions). */
  storedVersions: () => Promise<string>;
}

export class Engine implements EngineHandle {
  /** Committed log position. */
  private position = 0;
  /** Log position folded into memory (≥ position; the difference is the pending step). */
  private processed = 0;
  private pending: Step | undefined;
  private pendingEvents = 0;
  private pendingSince = 0;
  /**
   * The log's head when the pending step began. The step commits once it has
   * folded that far (group commit): events that arrive meanwhile go to the
   * next commit instead of delaying this one until the engine has caught up.
   */
  private pendingUpTo = 0;
  /**
   * While `processed` is below this position, transactions may hold
   * `rebuildBatchSize` records: set by a rebuild, and by a step that begins
   * further behind the head than one batch (events there wait already, and a
   * larger transaction writes each profile it touches fewer times).
   */
  private bulkUntil = 0;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** Until start(): a kick (a drain, a head poll) must not run the loop from position 0 before the stored position is read. */
  private stopped = true;
  private unsubscribe: (() => void) | undefined;
  private readonly profiles: LruCache<ProfileDoc>;
  private readonly identities: LruCache<string>;
  private blocked = new BlockedLinks();
  private readonly partition: number;
  /** Partitioned: the last control record applied per source partition (folded, maybe not committed yet). */
  private applied = new Map<number, { at: number; index: number }>();
  /** Partitioned: the committed positions of the other partitions, as last read (firstForgetAhead). */
  private sendersAt = new Map<number, number>();
  /** Partitioned: the identifiers erased here, by the erasures this partition's log told it of. */
  private readonly erasedIds: ErasedIdentifiers | undefined;
  /** Partitioned: erasures across partitions (groups homed here, `forget` records). */
  private readonly erasure: PartitionErasure | undefined;
  /** Partitioned: every partition's trait backfills (version and target per definition), read when a step needs one. */
  private backfillRows = new Map<number, Map<string, { hash: string; target: number }>>();
  private waiters: Array<{ position: number; resolve: () => void; reject: (e: unknown) => void }> = [];
  /** Commits on their way to the store (a store may commit on another thread or server). */
  private committing = 0;
  /**
   * The commit of folded events still being written while the engine folds
   * the next ones (stores with `commitDetached`); every other commit, and any
   * read of the store, waits for it to land first (`landed`).
   */
  private inflight: Promise<void> | undefined;
  lastError: unknown;
  private readonly commitListeners = new Set<(position: number) => void>();
  private dueTimer: NodeJS.Timeout | undefined;

  onCommit(listener: (position: number) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  constructor(private readonly o: EngineOptions) {
    this.partition = o.partition ?? 0;
    this.profiles = new LruCache(o.cacheProfiles);
    this.identities = new LruCache(o.cacheProfiles * 4);
    this.erasedIds = o.partitioned === undefined ? undefined : new ErasedIdentifiers(o.partitioned.hashIdent);
    this.erasure =
      o.partitioned === undefined || this.erasedIds === undefined
        ? undefined
        : new PartitionErasure({ partition: this.partition, partitions: o.partitions ?? 1, homeOf: o.partitioned.homeOf, erased: this.erasedIds, log: o.log, store: o.store, definitions: o.definitions, hashEmail: o.hashEmail, routes: o.partitioned.routes });
  }

  /**
   * Starts (or, after stop(), restarts) from the committed position, with
   * empty caches. `bulk` (a rebuild): fold up to the current head in larger
   * transactions, since nobody reads state that is being rebuilt.
   */
  async start(opts: { bulk?: boolean } = {}): Promise<void> {
    this.profiles.clear();
    this.identities.clear();
    this.lastError = undefined;
    this.position = await this.o.store.position(this.partition);
    this.processed = this.position;
    this.pending = undefined;
    this.pendingEvents = 0;
    this.bulkUntil = opts.bulk ? this.o.log.head() : 0;
    this.blocked = new BlockedLinks(await this.blockedLinks());
    if (this.o.partitioned) {
      this.applied = await this.o.partitioned.applied();
      this.erasedIds?.load(await this.o.partitioned.erased());
    }
    await this.o.segments?.start();
    this.stopped = false;
    this.unsubscribe?.();
    this.unsubscribe = this.o.log.onAppend(() => this.kick());
    this.kick();
  }

  /**
   * Links removed by unmerges, which no event may make again. A partition
   * engine knows those of the unmerges in its own log (the split profile's
   * identifiers are all its own then) and those the handovers in its log
   * brought with a profile (cluster-step.ts), so its state stays a function
   * of its log.
   */
  private blockedLinks(): Promise<Array<{ workspace: string; a: string; b: string }>> {
    return this.o.partitioned ? this.o.partitioned.blocks() : this.o.store.blockedLinks();
  }

  /** The log position whose effects are committed. */
  committedPosition(): number {
    return this.position;
  }

  /** How many log records wait to be processed. */
  lag(): number {
    return Math.max(0, this.o.log.head() - this.position);
  }

  /** Whether records, a commit, a backfill or due re-evaluations wait (what drain() waits for). */
  busy(): boolean {
    // While a commit is on its way, memory is ahead of the store (a backfill's definitions already read as done).
    return this.committing > 0 || this.position < this.o.log.head() || this.backfillWork() || this.segmentWork();
  }

  /** Resolves once every record appended so far is processed and every backfill is done. */
  drain(): Promise<void> {
    const target = this.o.log.head();
    // The loop settles this waiter once a commit on its way lands.
    if (!this.busy()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ position: target, resolve, reject });
      this.wake?.();
      this.kick();
    });
  }

  /** Starts the processing loop unless it runs already. */
  kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      this.settleWaiters();
      // Records may have arrived while the loop was finishing.
      if (!this.stopped && (this.position < this.o.log.head() || this.backfillWork() || this.segmentWork()) && this.lastError === undefined) this.kick();
      else if (!this.stopped) this.armDueTimer();
    });
  }

  /** Whether a trait backfill waits for this engine. */
  private backfillWork(): boolean {
    return this.o.definitions.backfilling().size > 0;
  }

  /** Whether time-driven segment re-evaluations or a segment backfill wait. */
  private segmentWork(): boolean {
    return this.o.segments !== undefined && this.o.segments.pending(this.o.clock.now(), this.position);
  }

  /** Wakes the engine when the earliest scheduled re-evaluation comes due. */
  private armDueTimer(): void {
    clearTimeout(this.dueTimer);
    const at = this.o.segments?.wakeAt() ?? Infinity;
    if (!Number.isFinite(at)) return;
    this.dueTimer = setTimeout(() => this.kick(), Math.min(Math.max(0, at - this.o.clock.now()), 3_600_000));
    this.dueTimer.unref?.();
  }

  private async loop(): Promise<void> {
    try {
      while (!this.stopped) {
        if (this.processed < this.o.log.head()) {
          await this.step();
          if (this.pendingEvents >= this.batchLimit() || this.groupDone()) await this.flush(true);
        } else if (this.pending !== undefined) {
          // Write-behind: keep folding what arrives for a short window, so a profile hit by
          // several events is written once; commit at once when someone waits.
          const wait = this.pendingSince + this.o.commitIntervalMs - Date.now();
          if (wait > 0 && this.waiters.length === 0) await this.sleep(wait);
          else await this.flush(true);
          continue;
        } else if (this.backfillWork()) await this.backfillChunk();
        else if (this.segmentWork()) await this.segmentChunk();
        else if (this.inflight !== undefined) await this.landed();
        else break;
        this.settleWaiters();
        // Yield to I/O between steps so reads and appends stay responsive.
        await new Promise<void>((r) => setImmediate(r));
      }
      await this.landed();
      this.lastError = undefined;
      this.settleWaiters();
    } catch (e) {
      // A commit still on its way lands or fails before the position is read back.
      await this.inflight?.catch(() => undefined);
      this.inflight = undefined;
      this.lastError = e;
      this.o.onError?.(e);
      for (const w of this.waiters) w.reject(e);
      this.waiters = [];
      // Drop cached state: it may hold effects of the failed, uncommitted step.
      this.pending = undefined;
      this.pendingEvents = 0;
      this.profiles.clear();
      this.identities.clear();
      this.o.segments?.reset();
      this.position = await this.o.store.position(this.partition).catch(() => this.position);
      this.processed = this.position;
      if (this.o.partitioned) {
        this.applied = await this.o.partitioned.applied().catch(() => new Map());
        this.erasedIds?.load(await this.o.partitioned.erased().catch(() => []));
        // A handover of the failed step may have brought blocks: the step is applied again from the committed ones
        // (unread, the held ones stay: at worst a block the step brought counts early, never one is lost).
        const blocks = await this.blockedLinks().catch(() => undefined);
        if (blocks !== undefined) this.blocked = new BlockedLinks(blocks);
      }
    }
  }

  /** Whether the pending step holds everything that was in the log when it began and its write-behind window has passed. */
  private groupDone(): boolean {
    return this.pending !== undefined && this.processed >= this.pendingUpTo && Date.now() - this.pendingSince >= this.o.commitIntervalMs;
  }

  private batchLimit(): number {
    return this.processed < this.bulkUntil ? Math.max(this.o.batchSize, this.o.rebuildBatchSize) : this.o.batchSize;
  }

  private settleWaiters(): void {
    if (this.waiters.length === 0) return;
    const backfilling = this.backfillWork() || this.segmentWork();
    this.waiters = this.waiters.filter((w) => {
      if (this.position >= w.position && !backfilling) {
        w.resolve();
        return false;
      }
      return true;
    });
  }

  /** Retries after a failure (for example a full disk that was freed). */
  resume(): void {
    this.lastError = undefined;
    this.kick();
  }

  private ctx(): StepContext {
    return {
      rules: this.o.definitions.rules(),
      guards: this.o.guards,
      hashEmail: this.o.hashEmail,
      profiles: this.profiles,
      identities: this.identities,
      blocked: this.blocked,
    };
  }

  /** A new step: a partition's own (routes and control records) on a partitioned deployment. */
  private newStep(): Step {
    const p = this.o.partitioned;
    if (p === undefined || this.erasedIds === undefined) return new Step(this.ctx(), this.partition, this.position);
    const backfillOf = (partition: number, name: string) => this.backfillRows.get(partition)?.get(name);
    return new ClusterStep(this.ctx(), { partition: this.partition, homeOf: p.homeOf, applied: this.applied, erased: this.erasedIds, openDoc: p.openDoc, backfillOf, versions: this.o.definitions.versions() }, this.position);
  }

  /**
   * Partitioned: reads every partition's trait backfills again when a record
   * needs one not held yet, or of another version: a forwarded event (which
   * traits its home's backfill counts) or backfilled states (whether their
   * source's backfill is this deployment's). A source's row for a version
   * never changes, so in the steady state this reads nothing.
   */
  private async loadBackfills(rows: readonly Positioned[], ids: ReadonlyArray<EventIdentifiers | undefined>): Promise<void> {
    const p = this.o.partitioned!;
    const traits = this.o.definitions.rules().traits;
    const held = (partition: number, name: string, hash: string) => this.backfillRows.get(partition)?.get(name)?.hash === hash;
    const stale = rows.some((row, i) => {
      const r = row.record;
      const x = ids[i];
      if (row.forwarded !== undefined && row.forwarded.group !== true && x !== undefined) {
        const home = p.homeOf(r.workspace, x.owner);
        return traits.some((t) => !held(home, t.name, t.hash));
      }
      const b = r.type === 'control' ? r.body : undefined;
      return b?.kind === 'traits' && b.states.some((st) => !held(b.source, st.name, st.hash));
    });
    if (stale) this.holdBackfills(await p.backfills());
  }

  /**
   * Partitioned: the index of the first row made by another partition under
   * trait versions other than this engine's (a forwarded event, a handover)
   * when this engine's versions are no longer the stored ones: the sender
   * folded under newer ones, and the states it carries (or the event it
   * streams) would be lost here. Undefined when there is none, or when this
   * engine's versions are the stored ones (the sender is behind, and its own
   * backfill, which ends past the record, counts what the record carries).
   */
  private async firstAhead(rows: readonly Positioned[]): Promise<number | undefined> {
    if (this.o.onDefinitionsBehind === undefined || this.o.partitioned === undefined) return undefined;
    const mine = this.o.definitions.versions();
    let stored: string | undefined;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const r = row.record;
      const made = row.forwarded?.control ?? (r.type === 'control' && r.body.kind === 'handover' ? r : undefined);
      if (made?.defs === undefined || made.defs === mine) continue;
      stored ??= await this.o.partitioned.storedVersions();
      return stored === mine ? undefined : i;
    }
    return undefined;
  }

  /**
   * Partitioned: the index of the first `forget` record made by another
   * partition at a position that partition has not committed yet; undefined
   * when there is none. Live, a record reaches the log only once its sender
   * committed the step that made it, so this never holds one up. A rebuild,
   * and workers resuming after an interrupted one (or catching up into an
   * emptied database), find the whole log there while the senders replay it
   * too. A `forget` reaches beyond its partition: it deletes the routes
   * naming the forgotten profiles wherever they are, including the
   * sender's, which the sender's records before it still read (which of its
   * profiles absorbed the person). Applied before its sender got that far,
   * it would delete routes the sender has not written yet, or still needs,
   * which no live order can show; the engine waits for the sender instead.
   * Other records wait for nothing: what they change stays in the receiving
   * partition, and waiting costs a replay dearly (a sender commits large
   * batches there). No cycle: each wait is for a position below that of
   * the record waiting.
   */
  private async firstForgetAhead(rows: readonly Positioned[]): Promise<number | undefined> {
    const p = this.o.partitioned;
    if (p === undefined) return undefined;
    let read = false;
    for (let i = 0; i < rows.length; i++) {
      const made = forgetFromElsewhere(rows[i]!, this.partition);
      if (made === undefined || (this.sendersAt.get(made.from) ?? 0) >= made.at) continue;
      if (!read) {
        this.sendersAt = await p.positions();
        read = true;
        if ((this.sendersAt.get(made.from) ?? 0) >= made.at) continue;
      }
      return i;
    }
    return undefined;
  }

  /** Waits until partition `from` has committed position `at` (or this engine stops). */
  private async waitForSender(made: { from: number; at: number }): Promise<void> {
    while (!this.stopped && (this.sendersAt.get(made.from) ?? 0) < made.at) {
      await this.sleep(SENDER_POLL_MS);
      this.sendersAt = await this.o.partitioned!.positions();
    }
  }

  private holdBackfills(rows: readonly StoredBackfill[]): void {
    this.backfillRows = new Map();
    for (const b of rows) {
      let m = this.backfillRows.get(b.partition);
      if (m === undefined) this.backfillRows.set(b.partition, (m = new Map()));
      m.set(b.name, { hash: b.hash, target: b.target });
    }
  }

  /** Loads the identities and profiles a set of identifier keys may touch into the caches. */
  private async prefetch(keys: Array<{ workspace: string; ident: string }>): Promise<void> {
    const missing: Array<{ workspace: string; ident: string }> = [];
    const seen = new Set<string>();
    // Most keys are cached: look them up before building any scoped key.
    for (const k of keys) {
      if (this.identities.peek(k.workspace, k.ident) !== undefined) continue;
      const sk = scoped(k.workspace, k.ident);
      if (seen.has(sk)) continue;
      seen.add(sk);
      missing.push(k);
    }
    if (missing.length > 0) {
      const found = this.o.partitioned ? await this.o.partitioned.routes(missing) : await this.o.store.identities(missing);
      for (const k of missing) {
        const v = found.get(scoped(k.workspace, k.ident));
        if (v !== undefined) this.identities.set(k.workspace, k.ident, v);
      }
    }
    const wanted: Array<{ workspace: string; id: string }> = [];
    const seenP = new Set<string>();
    for (const k of keys) {
      const pid = this.identities.peek(k.workspace, k.ident);
      if (pid === undefined || awayTarget(pid) !== undefined) continue;
      if (this.profiles.peek(k.workspace, pid) !== undefined) continue;
      const sp = scoped(k.workspace, pid);
      if (seenP.has(sp)) continue;
      seenP.add(sp);
      wanted.push({ workspace: k.workspace, id: pid });
    }
    if (wanted.length > 0) {
      const found = await this.o.store.profiles(wanted);
      for (const v of found.values()) this.profiles.set(v.workspace, v.id, v);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      const t = setTimeout(resolve, ms);
      t.unref?.();
    });
  }

  /** Folds the next records into the pending (uncommitted) step. */
  private async step(): Promise<void> {
    const head = this.o.log.head();
    // A step beginning behind by more than a batch catches up in larger transactions; caught up, commits stay small.
    if (this.pending === undefined && head - this.processed > this.o.batchSize && head > this.bulkUntil) this.bulkUntil = head;
    const records = await this.o.log.read(this.processed, Math.min(this.o.readSize, Math.max(1, this.batchLimit() - this.pendingEvents)));
    if (records.length === 0) return;
    const unmade = await this.firstForgetAhead(records);
    if (unmade === 0) {
      // What this partition folded so far is committed first: the sender may be waiting for it in turn.
      await this.flush();
      return this.waitForSender(forgetFromElsewhere(records[0]!, this.partition)!);
    }
    if (unmade !== undefined) records.length = unmade;
    // Events (and control records) up to the first unlink or erasure form one step; those commit on their own.
    const rows: Positioned[] = [];
    for (const r of records) {
      const t = r.record.type;
      const alone = t === 'unlink' || t === 'erase' || (t === 'control' && r.record.body.kind === 'forget');
      if (alone) {
        if (rows.length === 0) {
          await this.flush();
          if (t === 'unlink') return this.unlink(r as Positioned<UnlinkRecord>);
          if (t === 'erase') return this.erase(r as Positioned<EraseRecord>);
          return this.forget(r as Positioned<ControlRecord>);
        }
        break;
      }
      rows.push(r);
    }
    const behind = await this.firstAhead(rows);
    if (behind !== undefined) {
      if (behind === 0) {
        // Committed up to the record: the definitions start here, and the record is applied after the switch.
        await this.flush();
        this.stopped = true;
        this.o.onDefinitionsBehind?.();
        return;
      }
      rows.length = behind;
    }
    const ids: Array<EventIdentifiers | undefined> = [];
    if (this.o.partitioned) {
      for (const r of rows) ids.push(isEvent(r.record) ? identifiersOf(r.record, this.o.hashEmail) : undefined);
      await this.prefetch(controlKeysOf(rows, ids));
      await this.loadBackfills(rows, ids);
    } else await this.prefetch(identKeysOf(rows.map((r) => r.record as PortraitEvent | GroupTagRecord), this.o.hashEmail, ids));
    if (this.pending === undefined) {
      this.pending = this.newStep();
      this.pendingSince = Date.now();
      this.pendingUpTo = head;
    }
    const step = this.pending;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      if (row.record.type === 'group_tag') step.applyGroupTag(row.record, row.position);
      else if (step instanceof ClusterStep) {
        if (isEvent(row.record)) step.applyAt(row as Positioned<PortraitEvent>, ids[i]);
        else step.applyControl(row as Positioned<ControlRecord>);
      } else step.apply(row.record as PortraitEvent, row.position, ids[i]);
      // One partition: a refold follows the record that asked for it at once, whatever the batch: its history is
      // the same in a rebuild (one large step) as incrementally (many small ones), and it reads the events up to that
      // record. Partitioned workers refold at the end of the step, as before (README, Partitioned workers: Limits).
      if (this.o.partitioned === undefined && step.refoldsWaiting()) {
        rows.length = i + 1;
        break;
      }
    }
    this.processed = rows[rows.length - 1]!.position;
    this.pendingEvents += rows.length;
    await this.refoldConsents(step);
  }

  /**
   * Profiles where a consent decision arrived out of event-time order, or two
   * profiles with consents merged: their consents and purpose-bound traits are
   * recomputed from all their events in the log, so the state equals a fold
   * of the same events in any order (rare: in-order decisions need none).
   */
  private async refoldConsents(step: Step): Promise<void> {
    const rules = this.o.definitions.rules();
    const covers = this.o.definitions.covers.bind(this.o.definitions);
    for (const r of step.takeRefolds()) {
      const doc = this.profiles.peek(r.workspace, r.id);
      if (doc === undefined) continue;
      const events = await this.o.log.eventsFor(r.workspace, logIdsOf(doc.identifiers), { upTo: this.processed });
      const exact = foldProfile(doc, events, rules, covers);
      step.refolded(doc, r, adoptConsentState(doc, exact, rules, r.time));
    }
  }

  /**
   * Commits the pending step with the position it reached. `overlap`: the loop may fold the next events
   * while this commit is written (when the store allows it, on one partition,
   * with the caches within their bounds: they are trimmed only once nothing
   * uncommitted is left in them). Otherwise, and with no step pending, it
   * returns once everything folded is in the store.
   */
  private async flush(overlap = false): Promise<void> {
    const step = this.pending;
    if (step === undefined) return overlap ? undefined : this.landed();
    const events = this.pendingEvents;
    const detach = overlap && this.o.partitioned === undefined && !this.profiles.over() && !this.identities.over();
    await this.commit(step.changeset(this.processed), events, 'events', detach);
    this.pending = undefined;
    this.pendingEvents = 0;
  }

  /** Waits for the commit on its way, if any; throws its failure. */
  private async landed(): Promise<void> {
    const p = this.inflight;
    if (p === undefined) return;
    try {
      await p;
    } finally {
      if (this.inflight === p) this.inflight = undefined;
    }
  }

  private async commit(c: ReturnType<Step['changeset']>, events: number, cause?: CommitCause, detach = false): Promise<void> {
    await this.landed();
    if (cause !== undefined && this.o.segments?.active()) await this.o.segments.annotate(c, cause);
    Object.assign(c, this.fence());
    const store = this.o.store;
    const detached = detach && store.commitDetached !== undefined;
    this.committing++;
    let written: Promise<void>;
    try {
      written = detached ? store.commitDetached!(c).landed : store.commit(c);
    } catch (e) {
      this.committing--;
      throw e;
    }
    const landing = written
      .finally(() => this.committing--)
      .then(async () => {
        await this.o.segments?.committed();
        this.advanced(c.position, events);
      });
    if (detached) {
      // Its failure surfaces at the next landed(); until then it must not count as unhandled.
      landing.catch(() => undefined);
      this.inflight = landing;
      return;
    }
    await landing;
    this.trimCaches();
  }

  /** What a commit expects of the store (partitioned workers): this engine's last position, and its lease. */
  private fence(): { expectPosition?: number; expectLease?: number } {
    return { ...(this.o.fenced && { expectPosition: this.position }), ...(this.o.leaseToken !== undefined && { expectLease: this.o.leaseToken }) };
  }

  /** Shrinks the caches to their bounds: only once nothing uncommitted is left in them. */
  private trimCaches(): void {
    this.profiles.trim();
    this.identities.trim();
  }

  /** Records a committed position and tells the listeners. */
  private advanced(position: number, events: number): void {
    this.position = position;
    if (this.processed < position) this.processed = position;
    this.o.onCommit?.(position, events);
    for (const l of this.commitListeners) l(position);
  }

  /** Partitioned workers: a person erased in another partition; what this one holds of them goes (partition-erasure.ts). */
  private async forget(p: Positioned<ControlRecord>): Promise<void> {
    const r = p.record;
    const c = emptyChangeset(this.partition, p.position);
    c.routes = true;
    let gone: Forgotten | undefined;
    if (r.body.kind === 'forget' && this.erasure !== undefined && markApplied(this.applied, r)) {
      gone = await this.erasure.forget({ ...r, body: r.body }, p.position, c);
      for (const id of gone.profileIds) this.profiles.delete(r.workspace, id);
      for (const k of gone.identKeys) this.identities.delete(r.workspace, k);
    }
    c.controlApplied = [...this.applied].map(([source, a]) => ({ source, at: a.at, index: a.index }));
    await this.commit(c, 0);
    if (gone === undefined) return;
    this.blocked = new BlockedLinks(await this.blockedLinks());
    if (gone.shred.length > 0) await this.o.onErased?.(r.workspace, gone.shred);
  }

  /** Erases a person (src/privacy/erasure.ts) and forgets them in every cache. */
  private async erase(p: Positioned<EraseRecord>): Promise<void> {
    const defs = this.o.definitions;
    // The identifiers the erase record names (its hashes), not those found now: a rebuild finds the same ones
    // whatever it can still open of the person's events. The others' `forget` records carry those found now.
    this.erasedIds?.addHashes(p.record.workspace, p.record.hashes, p.position);
    const erased = this.erasedIds?.take();
    const now = this.o.clock.now();
    const done = await applyErasure(p, {
      ...(this.erasure !== undefined && { forget: this.erasure.records(p.record.workspace, p.record.timestamp, p.position, p.record.hashes), groups: this.erasure.scope(p.record.workspace) }),
      ...(erased !== undefined && { erased }),
      fence: this.fence(),
      log: this.o.log,
      store: this.o.store,
      hashEmail: this.o.hashEmail,
      partition: this.partition,
      now,
      sizesAt: this.o.segments?.sizePointAt(now),
      rules: defs.rules(),
      covers: defs.covers.bind(defs),
    });
    for (const id of done.profileIds) this.profiles.delete(done.workspace, id);
    for (const k of done.identKeys) this.identities.delete(done.workspace, k);
    // Copies of the events elsewhere (a JetStream log, backups) become unreadable with the keys.
    if (done.identKeys.length > 0) await this.o.onErased?.(done.workspace, done.identKeys);
    this.blocked = new BlockedLinks(await this.blockedLinks());
    // Memberships and sizes changed underneath the live segments: they reload what they need.
    this.o.segments?.reset();
    this.advanced(p.position, 0);
    this.trimCaches();
  }

  /** Removes one identity link and splits the profile, rebuilding both sides from their own events. */
  private async unlink(p: Positioned<UnlinkRecord>): Promise<void> {
    const { workspace: ws, a, b } = p.record;
    const c = emptyChangeset(this.partition, p.position);
    c.blockedLinks = [{ workspace: ws, a: a < b ? a : b, b: a < b ? b : a }];
    if (this.o.partitioned) c.routes = true;
    this.blocked.add(ws, a, b);
    await this.prefetch([{ workspace: ws, ident: a }, { workspace: ws, ident: b }]);
    const pa = this.identities.peek(ws, a);
    const pb = this.identities.peek(ws, b);
    const doc = pa !== undefined && pa === pb ? this.profiles.peek(ws, pa) : undefined;
    if (doc !== undefined) {
      const links = await this.o.store.linksAmong(ws, doc.identifiers);
      const direct = links.find((l) => (l.a === a && l.b === b) || (l.a === b && l.b === a));
      if (direct !== undefined) {
        const remaining = links.filter((l) => l !== direct);
        const sideA = componentOf(a, doc.identifiers, remaining);
        const inA = new Set(sideA);
        const sideB = doc.identifiers.filter((i) => !inA.has(i));
        c.deletedLinks = [{ workspace: ws, a: direct.a, b: direct.b }];
        if (sideB.length > 0) {
          const rules = this.o.definitions.rules();
          const covers = this.o.definitions.covers.bind(this.o.definitions);
          const newId = profileIdFor('p', ws, b, p.position, p.record.receivedAt);
          const eventsA = await this.o.log.eventsFor(ws, logIdsOf(sideA), { upTo: p.position });
          const eventsB = await this.o.log.eventsFor(ws, logIdsOf(sideB), { upTo: p.position });
          const docA = foldProfile({ ...doc, identifiers: sideA }, eventsA, rules, covers);
          const docB = foldProfile({ id: newId, workspace: ws, kind: 'user', identifiers: sideB, createdAt: p.position }, eventsB, rules, covers);
          this.profiles.set(ws, docA.id, docA);
          this.profiles.set(ws, docB.id, docB);
          c.profiles.push(docA, docB);
          for (const i of sideB) {
            this.identities.set(ws, i, newId);
            c.identities.push({ workspace: ws, ident: i, profileId: newId, position: p.position });
          }
          c.merges.push({ kind: 'unmerge', workspace: ws, into: doc.id, from: newId, a, b, position: p.position, messageId: p.record.messageId, time: p.record.timestamp });
          const at = p.record.timestamp;
          const changesA = diffDocs(doc, docA, rules, at);
          if (Object.keys(changesA).length > 0) c.history.push({ workspace: ws, profileId: doc.id, position: p.position, messageId: p.record.messageId, time: at, changes: changesA });
        }
      }
    }
    await this.commit(c, 0, 'unlink');
  }

  /** Re-evaluates the profiles whose scheduled instant has come, or backfills segment definitions. */
  private async segmentChunk(): Promise<void> {
    await this.flush();
    const c = await this.o.segments!.work(
      this.partition,
      this.position,
      (ws, id) => this.profiles.peek(ws, id),
      async (keys) => {
        const found = await this.o.store.profiles(keys);
        for (const v of found.values()) this.profiles.set(v.workspace, v.id, v);
        return found;
      },
    );
    if (c !== undefined) await this.commit(c, 0);
  }

  /** Folds one chunk of the log into the traits being backfilled. */
  private async backfillChunk(): Promise<void> {
    await this.flush();
    const defs = this.o.definitions;
    const pending = defs.list().filter((r) => r.status === 'backfilling');
    const from = Math.min(...pending.map((r) => r.backfillCursor));
    const group = pending.filter((r) => r.backfillCursor === from);
    const target = Math.min(...group.map((r) => r.backfillTarget));
    // Partitioned: states of profiles owned elsewhere go there as records, which must find the version there.
    if (this.o.partitioned && !(await this.everyPartitionStarted(group))) {
      await this.sleep(100);
      return;
    }
    const records = (await this.o.log.read(from, this.o.backfillChunk)).filter((r) => r.position <= target);
    const end = records.length > 0 ? Math.min(records[records.length - 1]!.position, target) : target;
    // Partitioned: a forwarded event is the backfill of its home's (the partition whose log holds it).
    const events = records.filter((r): r is Positioned<PortraitEvent> => isEvent(r.record) && r.forwarded === undefined);
    const traits = group.map((r) => defs.runtime(r.name)!);
    await this.prefetch(events.map((e) => ({ workspace: e.record.workspace, ident: identifiersOf(e.record, this.o.hashEmail).owner })));

    const partial = new Map<string, { workspace: string; id: string; states: Map<string, unknown> }>();
    const away = new Backfilled();
    let sent = false;
    for (const { record, position } of events) {
      const owner = identifiersOf(record, this.o.hashEmail).owner;
      const pid = this.identities.peek(record.workspace, owner);
      if (pid === undefined) continue;
      const to = awayTarget(pid);
      if (to !== undefined) {
        // Owned elsewhere: the owner folds the partial states (and gates a purpose-bound trait's inputs by its consents).
        for (const t of traits) {
          const input = t.input(record);
          if (input === undefined) continue;
          away.add(record.workspace, owner, to, position, t, defs.get(t.name)!.backfillTarget, input);
          sent = true;
        }
        continue;
      }
      const key = scoped(record.workspace, pid);
      const ownerDoc = this.profiles.peek(record.workspace, pid);
      for (const t of traits) {
        // A purpose-bound trait counts only what the profile's consents let through (the same gate as streaming).
        if (t.purpose !== undefined && (ownerDoc === undefined || !consentAllows(ownerDoc, t.purpose, record.timestamp))) continue;
        const input = t.input(record);
        if (input === undefined) continue;
        let entry = partial.get(key);
        if (entry === undefined) partial.set(key, (entry = { workspace: record.workspace, id: pid, states: new Map() }));
        const states = entry.states;
        states.set(t.name, t.aggregator.add(states.has(t.name) ? states.get(t.name) : t.aggregator.init(), input));
      }
    }
    const c = emptyChangeset(this.partition, this.position);
    if (sent) {
      const last = await this.o.partitioned!.lastControl();
      c.control = away.records(this.partition, this.position, last !== undefined && last.at === this.position ? last.index + 1 : 0, this.o.clock.now());
    }
    for (const { workspace, id, states } of partial.values()) {
      const doc = this.profiles.peek(workspace, id);
      if (doc === undefined) continue;
      for (const t of traits) {
        if (!states.has(t.name)) continue;
        const cur = doc.traits[t.name];
        const s = states.get(t.name);
        doc.traits[t.name] = { h: t.hash, s: cur !== undefined && cur.h === t.hash ? t.aggregator.merge(cur.s, s) : s };
      }
      c.profiles.push(doc);
    }
    const now = this.o.clock.now();
    const rows = group.map((r) => defs.advance(r.name, end, now));
    const partitions = this.o.partitions;
    if (partitions === undefined) c.definitions = rows;
    else c.backfills = rows.map((r) => ({ name: r.name, hash: r.hash, partition: this.partition, cursor: r.backfillCursor, target: r.backfillTarget, done: r.status === 'live', partitions, from }));
    try {
      await this.commit(c, 0, 'trait-backfill');
    } catch (e) {
      // Not committed: the chunk is done again from where it began.
      defs.restore(group);
      throw e;
    }
  }

  /** Partitioned: whether every partition has started these versions' backfills (and holds them, from the rows read). */
  private async everyPartitionStarted(group: readonly { name: string; hash: string }[]): Promise<boolean> {
    const rows = await this.o.partitioned!.backfills();
    this.holdBackfills(rows);
    const n = this.o.partitions ?? 1;
    return group.every((r) => rows.filter((b) => b.name === r.name && b.hash === r.hash).length >= n);
  }

  /** Stops at once, dropping what was folded and not committed, as a crash would (failure drills). */
  abandon(): void {
    this.stopped = true;
    clearTimeout(this.dueTimer);
    this.unsubscribe?.();
    this.wake?.();
    this.pending = undefined;
    this.pendingEvents = 0;
  }

  /** Stops after committing what was folded. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.dueTimer);
    this.unsubscribe?.();
    this.wake?.();
    await this.running;
    if (this.pending !== undefined && this.lastError === undefined) await this.flush();
  }
}
