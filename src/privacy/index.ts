/**
 * Privacy: the master keyring, personal data sealed at rest and key rotation,
 * masking, the audit trail, crypto-shredding of the event log with per-person
 * data keys, retention, consent per purpose, erasure with its suppression list
 * and ledger, and the export of everything held on a person.
 */
export { Keyring, isSealed, sealedKeyId, type KeyringFile } from './keyring.ts';
export { keyFileOf, loadKeyring } from './load.ts';
export { PiiSealer, piiAad } from './pii-sealer.ts';
export { Masker, maskValue, MASK } from './mask.ts';
export { AuditTrail, type AuditPage, type AuditTrailOptions } from './audit.ts';
export { rotateKey, reseal, retireKey, keyUsage } from './rotation.ts';
export { DataKeys, type DataKeysOptions } from './data-keys.ts';
export { SealedEventLog, ownerOf } from './sealed-event-log.ts';
export { runRetention, type RetentionReport, type RetentionRule, type DeleteProfile } from './retention.ts';
export { sealEvent, openEvent, hasSealedFields } from './event-sealing.ts';
export { PrivacyApi, type PrivacyDeps } from './privacy-api.ts';
export { SuppressionList, eventIdentKeys, rawIdentKeys } from './suppression.ts';
export { buildExport, type PersonExport, type ExportSections, type ExportSource } from './export.ts';
export { ledgerEntry, type LedgerEntry } from './ledger.ts';
export { readConsentInput, consentReading, type ConsentReading } from './consent.ts';
