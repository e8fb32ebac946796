/** Messages between the main thread and the engine's worker thread. */
import type { ResolvedConfig } from '../../config/index.ts';

export interface WorkerInit {
  config: ResolvedConfig;
  logFile: string;
  stateFile: string;
  hashKeyHex: string;
}

export type ToWorker =
  | { type: 'start'; bulk?: boolean }
  | { type: 'appended'; head: number }
  | { type: 'drain'; id: number; head: number }
  | { type: 'kick' }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'started'; position: number }
  | { type: 'committed'; position: number }
  | { type: 'drained'; id: number }
  | { type: 'drain-failed'; id: number; code?: string; message: string }
  | { type: 'stopped'; position: number }
  | { type: 'error'; code?: string; message: string };
