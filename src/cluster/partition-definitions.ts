/**
 * The trait definitions as one partition's engine sees them: the shared rows,
 * each with this partition's backfill status, cursor and target. Partitions
 * are independent logs, so each backfills a new version over its own log, up
 * to the position it had committed when it first met that version; the
 * definition goes live when every partition is done (see writeBackfills).
 */
import type { Definitions } from '../engine/definitions.ts';
import type { DefinitionRow, PartitionBackfill, StoredBackfill } from '../storage/index.ts';

/** What this needs of the PostgreSQL store. */
export interface BackfillTable {
  definitions(): Promise<DefinitionRow[]>;
  partitionBackfills(partition?: number): Promise<StoredBackfill[]>;
  startBackfills(rows: PartitionBackfill[]): Promise<void>;
  position(partition: number): Promise<number>;
}

/**
 * Loads the definitions for `partition` into `into`. A version this partition
 * has not met yet starts here: live at once when the partition is empty,
 * else a backfill up to the partition's committed position (even when the
 * version was made live on an empty deployment: the partition may have
 * committed events since, before it noticed the version). The start is
 * stored before the engine commits anything, so a restart resumes the same
 * backfill.
 */
export async function loadPartitionDefinitions(store: BackfillTable, into: Definitions, partition: number, partitions: number): Promise<Definitions> {
  const rows = await store.definitions();
  const stored = async () => new Map((await store.partitionBackfills(partition)).map((b) => [b.name, b]));
  let progress = await stored();
  const position = await store.position(partition);
  const starts: PartitionBackfill[] = [];
  for (const r of rows) {
    const b = progress.get(r.name);
    if (b !== undefined && b.hash === r.hash) continue;
    // Live at once only where nothing was committed yet: a version made live on an empty deployment
    // may meet a partition that folded events before it noticed the version.
    const live = position === 0;
    starts.push({ name: r.name, hash: r.hash, partition, cursor: 0, target: live ? 0 : position, done: live, partitions });
  }
  if (starts.length > 0) {
    await store.startBackfills(starts);
    progress = await stored();
  }
  into.replace(
    rows.map((r): DefinitionRow => {
      const b = progress.get(r.name);
      if (b === undefined || b.hash !== r.hash) return r;
      return { ...r, status: b.done ? 'live' : 'backfilling', backfillCursor: b.cursor, backfillTarget: b.target };
    }),
  );
  return into;
}

/**
 * The shared rows with the partitions' progress folded in (what API nodes
 * show): a version is backfilling until every partition is done; its
 * progress is the share of the partitions' targets covered.
 */
export function overallDefinitions(rows: readonly DefinitionRow[], progress: readonly StoredBackfill[]): DefinitionRow[] {
  return rows.map((r) => {
    if (r.status === 'live') return r;
    const mine = progress.filter((b) => b.name === r.name && b.hash === r.hash);
    const target = mine.reduce((n, b) => n + b.target, 0);
    const cursor = mine.reduce((n, b) => n + (b.done ? b.target : b.cursor), 0);
    // Unknown targets (partitions not started yet) count as not covered.
    return { ...r, backfillCursor: cursor, backfillTarget: Math.max(target, cursor + 1) };
  });
}
