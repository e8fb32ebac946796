/** Messages between a SQLite state store and its commit thread (sqlite-commit-thread.ts). */
import type { HistoryRow } from '../rows.ts';
import type { Changeset } from '../store.ts';
import type { CommitRest, SealedConflictRow, SealedProfileRow } from './sealed-rows.ts';

export interface CommitInit {
  file: string;
  durability?: 'full' | 'normal';
  cacheMiB?: number;
}

/** One commit is begin (with every part that needs no encoding), any number of profiles and history parts, then finish (or abort). */
export type ToCommitThread =
  | { type: 'begin'; id: number; rest: CommitRest; conflicts: SealedConflictRow[] }
  | { type: 'profiles'; id: number; rows: SealedProfileRow[] }
  | { type: 'history'; id: number; rows: HistoryRow[] }
  | ({ type: 'finish'; id: number } & Pick<Changeset, 'partition' | 'position'>)
  | { type: 'abort'; id: number }
  | { type: 'close'; id: number };

export type FromCommitThread = { type: 'committed'; id: number } | { type: 'closed'; id: number } | { type: 'failed'; id: number; code?: string; status?: number; message: string };
