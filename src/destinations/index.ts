/** Destinations: webhook notifications from the outbox, their delivery log and dead letters, and audience export. */
export { Destinations, type DestinationsOptions, type Paged } from './destinations.ts';
export { KINDS, type Kind, type Destination, type DestinationView, DestinationInputSchema, DestinationPatchSchema, ConfigDestinationSchema } from './destination.ts';
export { type DeliveryOptions, DeliveryWorker } from './delivery-worker.ts';
export { backoffCeiling, backoffDelay, type BackoffOptions } from './backoff.ts';
export { verifySignature, signatureHeader, SIGNATURE_HEADER, type VerifyResult } from './signature.ts';
export { DELIVERY_ID_HEADER, type FetchLike } from './sender.ts';
export { parseFields, TRAIT as EXPORT_TRAIT_PREFIX, type ExportFormat } from './export.ts';
export type { DestinationStore, DestinationHealth, Delivery, DeadLetter, DeliveryStatus, DueDelivery, MemberRow, OutboxRow } from './destination-store.ts';
export { SqliteDestinationStore } from './sqlite-destination-store.ts';
export { ThreadedDestinationStore } from './threaded-destination-store.ts';
export { PostgresDestinationStore } from './postgres-destination-store.ts';
