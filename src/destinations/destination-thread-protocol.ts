/** Calls from the main thread to the destinations' thread (see threaded-destination-store.ts). */
import type { DestinationStore } from './destination-store.ts';

export interface DestinationThreadInit {
  /** The state file (it must exist). */
  file: string;
  durability: 'full' | 'normal';
}

/** A DestinationStore method, by name, with its arguments (none of them a function). */
export type StoreMethod = Exclude<keyof DestinationStore, 'close'>;

export type ToDestinationThread = { type: 'call'; method: StoreMethod; args: unknown[] } | { type: 'close' };
