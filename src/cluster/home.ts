/**
 * Where an identifier lives with partitioned workers: the partition its value
 * hashes to, the same hash that places events (src/log/partition.ts). A
 * profile holds identifiers of one partition only, so exactly one partition,
 * and so one worker, ever writes it.
 */
import { identValue } from '../core/identity.ts';
import { partitionOf } from '../log/partition.ts';

/** Whether an identifier key (`user:u1`, `anon:a1`, `email:<hash>`, `ext:<type>:<v>`, `group:g`) is homed in `partition`. */
export function homeOf(partition: number, partitions: number): (workspace: string, ident: string) => boolean {
  return (workspace, ident) => partitionOf(workspace, identValue(ident), partitions) === partition;
}
