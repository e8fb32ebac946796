/** Messages between the main thread and the engine's worker thread. */
import type { ResolvedConfig } from '../../config/index.ts';
import type { KeyringFile } from '../../privacy/keyring.ts';

export interface WorkerInit {
  config: ResolvedConfig;
  logFile: string;
  stateFile: string;
  hashKeyHex: string;
  /** The master keyring: this thread opens the data keys that open sealed event fields. */
  keyring: KeyringFile;
  /** The main thread's clock is injected (tests): follow the times it sends instead of reading the system clock. */
  followClock?: boolean;
}

export type ToWorker = (
  | { type: 'start'; bulk?: boolean }
  | { type: 'appended'; head: number }
  | { type: 'drain'; id: number; head: number }
  | { type: 'kick' }
  | { type: 'forget-keys'; workspace: string; subjects: string[] }
  /** Data keys the main thread just created and stored: `keys` holds them end to end (32 bytes each), in the order of `subjects`. */
  | { type: 'learn-keys'; workspace: string; subjects: string[]; keys: Uint8Array }
  | { type: 'stop' }
) & { now?: number };

export type FromWorker =
  | { type: 'started'; position: number }
  | { type: 'committed'; position: number }
  | { type: 'drained'; id: number }
  | { type: 'drain-failed'; id: number; code?: string; message: string }
  | { type: 'stopped'; position: number }
  | { type: 'error'; code?: string; message: string };
