/** Thread priorities: background work gives way to the threads that answer requests. */
import { setPriority } from 'node:os';

/** The nice value of background threads (the engine and its checkpoints). */
const BACKGROUND_NICE = 10;

/**
 * Lowers the calling thread's priority so that, when cores are short, ingest
 * and reads on the other threads come first. On Linux a thread has its own
 * nice value, so this lowers this thread alone; where that is not permitted
 * or not supported, the thread keeps the normal priority.
 */
export function runInBackground(): void {
  try {
    setPriority(0, BACKGROUND_NICE);
  } catch {
    // Not permitted or not supported here: run at the normal priority.
  }
}
