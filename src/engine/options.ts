/** Building the engine's collaborators from the configuration: one place for both threads. */
import type { Clock } from '../core/clock.ts';
import type { ResolvedConfig } from '../config/index.ts';
import { emailHasher } from '../ingest/index.ts';
import type { EventLog } from '../log/index.ts';
import { SealedEventLog } from '../privacy/index.ts';
import { LiveSegments } from '../segments/index.ts';
import type { SegmentStore, StateStore } from '../storage/index.ts';
import type { Definitions } from './definitions.ts';
import type { EngineOptions } from './engine.ts';

export { emailHasher };

export function engineOptions(config: ResolvedConfig, parts: { log: EventLog; store: StateStore; definitions: Definitions; clock: Clock; hashKey: Buffer }): EngineOptions {
  return {
    log: parts.log,
    store: parts.store,
    definitions: parts.definitions,
    clock: parts.clock,
    hashEmail: emailHasher(parts.hashKey),
    guards: { maxAnonymousIds: config.identity.maxAnonymousIds },
    batchSize: config.engine.batchSize,
    rebuildBatchSize: config.engine.rebuildBatchSize,
    readSize: 2000,
    commitIntervalMs: config.engine.commitIntervalMs,
    cacheProfiles: config.engine.cacheProfiles,
    backfillChunk: config.engine.backfillChunk,
    segments: parts.store.segments && liveSegments(config, parts),
    onErased: dataKeyShredder(parts.log),
  };
}

/** An erasure also destroys the person's data keys when the log seals personal fields (crypto-shredding). */
function dataKeyShredder(log: EventLog): EngineOptions['onErased'] {
  return log instanceof SealedEventLog ? async (workspace, identKeys) => void (await log.keys.destroy(workspace, identKeys)) : undefined;
}

/**
 * Live segment membership over the store's segment tables, or (partitioned
 * workers) over one partition's view of them (`store`, `partition`).
 */
export function liveSegments(
  config: ResolvedConfig,
  parts: { store: StateStore; definitions: Definitions; clock: Clock },
  only?: { store: SegmentStore; partition: number; partitions: number },
): LiveSegments {
  const defs = parts.definitions;
  return new LiveSegments({
    store: only?.store ?? parts.store.segments!,
    ...(only !== undefined && { partition: { partition: only.partition, partitions: only.partitions } }),
    clock: parts.clock,
    traits: () => ({ version: defs.rules(), rows: () => defs.list(), runtime: (n) => defs.runtime(n) }),
    profileUpdated: config.outbox.profileUpdated,
    cacheProfiles: config.engine.cacheProfiles,
    chunk: Math.min(config.engine.backfillChunk, 2000),
    sizeIntervalMs: config.engine.sizeHistorySeconds * 1000,
  });
}
