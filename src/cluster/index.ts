/** Scale-out: partition leases in PostgreSQL and the engines of the partitions a node holds. */
export { ClusterEngine, type ClusterEngineOptions } from './cluster-engine.ts';
export { homeOf } from './home.ts';
export { LeaseStore, type Lease } from './lease-store.ts';
export { PartitionLog } from './partition-log.ts';
export { ControlPublisher, type ControlOutbox } from './control-publisher.ts';
export { loadPartitionDefinitions, overallDefinitions, type BackfillTable } from './partition-definitions.ts';
