/**
 * `Portrait.rebuild()`: clears the derived state and replays the log. On a
 * deployment of partitioned workers the rebuilding node first fences the
 * others out and holds every partition until the replay is done.
 */
import { ClusterEngine } from '../cluster/index.ts';
import type { Clock } from '../core/clock.ts';
import { Errors } from '../core/errors.ts';
import type { Definitions } from '../engine/definitions.ts';
import type { EngineHandle } from '../engine/handle.ts';
import { PostgresStore, type DefinitionRow, type StateStore } from '../storage/index.ts';
import type { SegmentApi } from './segments.ts';

export interface RebuildParts {
  engine: EngineHandle;
  store: StateStore;
  definitions: Definitions;
  clock: Clock;
  partitions: number;
  /** The log's last position now (what the progress counts towards). */
  head: () => number;
  segments: SegmentApi | undefined;
}

export interface RebuildOptions {
  /** Called every 200 ms with the committed position and the log's head when the replay began. */
  onProgress?: (done: number, total: number) => void;
  /** Partitioned workers: how long to wait for the other workers to give their partitions back (ms). */
  waitMs: number;
}

/**
 * Recomputes all state from the log. With partitioned workers, waits until
 * every other worker gave its partitions back (else PORTRAIT_REBUILD_BLOCKED
 * or PORTRAIT_REBUILD_IN_PROGRESS, with nothing cleared and this node working
 * again), replays every partition here, then lifts the fence.
 */
export async function rebuild(parts: RebuildParts, o: RebuildOptions): Promise<void> {
  const { engine } = parts;
  const cluster = engine instanceof ClusterEngine ? engine : undefined;
  if (cluster === undefined) {
    await engine.stop();
    return replay(parts, undefined, o.onProgress);
  }
  if (!cluster.works) throw Errors.rebuildNotAWorker();
  try {
    await cluster.fenceOthers(o.waitMs);
  } catch (e) {
    await cluster.start();
    throw e;
  }
  try {
    await replay(parts, cluster, o.onProgress);
  } finally {
    await cluster.liftFence();
  }
}

/** Clears the derived state and folds the whole log again (the engine is stopped, or fenced and stopped). */
async function replay(parts: RebuildParts, cluster: ClusterEngine | undefined, onProgress: RebuildOptions['onProgress']): Promise<void> {
  const { engine, store, definitions, clock, partitions } = parts;
  const partitioned = cluster !== undefined && store instanceof PostgresStore && partitions > 1 ? store : undefined;
  const live = definitions.allLive(clock.now());
  if (partitioned === undefined) {
    await store.clearDerived();
    await store.saveDefinitions(live);
  } else await clearPartitions(partitioned, live, partitions);
  const total = parts.head();
  // Memberships are re-evaluated once the replay is done, against those held before: only real changes are notified.
  // Partition engines each wait for their own replay, up to their partition's head (PartitionSegmentStore).
  await parts.segments?.restartAll(cluster ? Number.MAX_SAFE_INTEGER : total);
  await engine.start({ bulk: true });
  if (onProgress) {
    const timer = setInterval(() => onProgress(engine.committedPosition(), total), 200);
    try {
      await engine.drain();
    } finally {
      clearInterval(timer);
    }
    onProgress(engine.committedPosition(), total);
  } else await engine.drain();
}

/**
 * Partitioned workers: clears the derived state before every partition
 * replays the log, keeping the live definitions. Each partition's trait
 * backfills are kept as done, with the targets they had (0 for a definition
 * it ran from the start), recorded with the clearing, before any partition
 * engine starts. The log holds the states those backfills sent to other
 * partitions (`traits` records), which a rebuild merges again, and handovers
 * made before a definition, which carry no state of it (README, Partitioned
 * workers).
 */
export async function clearPartitions(store: PostgresStore, live: DefinitionRow[], partitions: number): Promise<void> {
  const backfilled = await store.partitionBackfills();
  const backfills = live.flatMap((r) =>
    Array.from({ length: partitions }, (_, partition) => {
      const target = backfilled.find((b) => b.name === r.name && b.hash === r.hash && b.partition === partition)?.target ?? 0;
      return { name: r.name, hash: r.hash, partition, cursor: target, target, done: true, partitions };
    }),
  );
  await store.clearDerivedFor(live, backfills);
}
