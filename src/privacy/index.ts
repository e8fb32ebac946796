/** Privacy: the master keyring (and, as they land, PII sealing, consent, erasure, export, retention). */
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/index.ts';
import { Keyring } from './keyring.ts';

export { Keyring, isSealed, type KeyringFile } from './keyring.ts';
export { DataKeys, type DataKeysOptions } from './data-keys.ts';
export { SealedEventLog, ownerOf } from './sealed-event-log.ts';
export { runRetention, type RetentionReport, type RetentionRule, type DeleteProfile } from './retention.ts';
export { sealEvent, openEvent, hasSealedFields } from './event-sealing.ts';

/** The instance's master keyring: configured keys, else `<dataDir>/master.keys` (generated once); in memory, a fresh key. */
export function loadKeyring(config: ResolvedConfig, memory: boolean): Keyring {
  if (config.privacy.masterKeys !== undefined) return Keyring.fromEnv(config.privacy.masterKeys);
  if (memory && config.privacy.keyFile === undefined) return Keyring.generate();
  return Keyring.load(config.privacy.keyFile ?? join(config.dataDir, 'master.keys'));
}

export { PrivacyApi, type PrivacyDeps } from './privacy-api.ts';
export { SuppressionList, eventIdentKeys, rawIdentKeys } from './suppression.ts';
export { buildExport, type PersonExport, type ExportSections, type ExportSource } from './export.ts';
export { ledgerEntry, type LedgerEntry } from './ledger.ts';
export { readConsentInput, consentMessage, consentOwner, consentReading, type ConsentReading } from './consent.ts';
