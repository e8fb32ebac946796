/** Privacy: the master keyring (and, as they land, PII sealing, consent, erasure, export, retention). */
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/index.ts';
import { Keyring } from './keyring.ts';

export { Keyring, isSealed, type KeyringFile } from './keyring.ts';

/** The instance's master keyring: configured keys, else `<dataDir>/master.keys` (generated once); in memory, a fresh key. */
export function loadKeyring(config: ResolvedConfig, memory: boolean): Keyring {
  if (config.privacy.masterKeys !== undefined) return Keyring.fromEnv(config.privacy.masterKeys);
  if (memory && config.privacy.keyFile === undefined) return Keyring.generate();
  return Keyring.load(config.privacy.keyFile ?? join(config.dataDir, 'master.keys'));
}
export { readConsentInput, consentMessage, consentOwner, consentReading, type ConsentReading } from './consent.ts';
