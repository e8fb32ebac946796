/**
 * Ingest: turns raw Segment-spec messages into validated, normalised
 * PortraitEvents, and keys identifiers such as emails for storage.
 */

/** Validates one Segment message (unknown JSON) into a PortraitEvent, or lists every problem with its path. */
export { parseMessage } from './validate.ts';
/** Validates a `/v1/batch` body and parses its messages in order, merging the shared context and sentAt. */
export { parseBatch } from './validate.ts';
/** The outcome of parsing one message: `{ ok: true, event }` or `{ ok: false, problems }`. */
export type { ParseResult } from './validate.ts';
/** Options, and the outcome of a batch: rejected whole only when its envelope is malformed. */
export type { BatchOptions, BatchResult, ParseOptions } from './validate.ts';
/** Trims and lower-cases an email; `undefined` unless it looks like local@domain. */
export { normalizeEmail } from './email.ts';
/** HMAC-SHA256 of an identifier under a key, base64url, first 32 characters: how emails are stored. */
export { identityHash, workspaceIdentityKey, emailHasher } from './email.ts';
/** The reference a sealed email leaves behind once shredded: its hash, under a MAC. */
export { emailReferencer } from './email.ts';
/** The static type of a raw Segment message, derived from the schemas. */
export type { SegmentMessage } from './schema.ts';
