/** Calls from the main thread to the state writer thread (see sqlite-state-writer.ts). */
import type { AuditRecord } from '../audit.ts';
import type { NewQuarantineRow } from '../store.ts';

export interface StateWriterInit {
  file: string;
  durability: 'full' | 'normal';
}

export type ToStateWriter =
  | { type: 'data-keys'; workspace: string; rows: ReadonlyArray<{ subject: string; sealed: string }>; createdAt: number }
  | { type: 'audit'; records: readonly AuditRecord[] }
  | { type: 'quarantine'; row: NewQuarantineRow }
  | { type: 'ready' }
  | { type: 'close' };
