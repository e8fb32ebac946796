/**
 * Where an identifier is homed with partitioned workers: the partition its
 * value hashes to, the same hash that places events (src/log/partition.ts).
 * A home partition knows, for each of its identifiers, which of its profiles
 * holds it or which partition it handed it to (src/engine/cluster-step.ts).
 */
import { identValue } from '../core/identity.ts';
import { partitionOf } from '../log/partition.ts';

/** The home partition of an identifier key (`user:u1`, `anon:a1`, `email:<hash>`, `ext:<type>:<v>`, `group:g`). */
export function homeOf(partitions: number): (workspace: string, ident: string) => number {
  return (workspace, ident) => partitionOf(workspace, identValue(ident), partitions);
}
