/** Calls from a SQLite state store to its checkpoint thread (see sqlite-checkpointer.ts). */
export interface CheckpointInit {
  file: string;
}

export type ToCheckpointer = { type: 'checkpoint' } | { type: 'close' };
