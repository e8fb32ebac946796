/** Where an instance's master keyring comes from. */
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/index.ts';
import { Keyring } from './keyring.ts';

/** The keyring file of an instance: `privacy.keyFile`, else `<dataDir>/master.keys`. */
export function keyFileOf(config: ResolvedConfig): string {
  return config.privacy.keyFile ?? join(config.dataDir, 'master.keys');
}

/** The instance's master keyring: configured keys, else `<dataDir>/master.keys` (generated once); in memory, a fresh key. */
export function loadKeyring(config: ResolvedConfig, memory: boolean): Keyring {
  if (config.privacy.masterKeys !== undefined) return Keyring.fromEnv(config.privacy.masterKeys);
  if (memory && config.privacy.keyFile === undefined) return Keyring.generate();
  return Keyring.load(keyFileOf(config));
}
