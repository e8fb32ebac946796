/**
 * What the library needs from an engine, wherever it runs: in this thread
 * (`Engine`, used for in-memory instances) or in a worker thread
 * (`WorkerEngine`, used for files, so folding and commits never block
 * ingest or reads on the main thread).
 */
export interface EngineHandle {
  /** Starts, or restarts after stop(), from the committed position; `bulk` for a rebuild (larger transactions). */
  start(opts?: { bulk?: boolean }): Promise<void>;
  /** Commits what was folded and stops. */
  stop(): Promise<void>;
  /** Resolves once everything appended so far is committed and backfills are done. */
  drain(): Promise<void>;
  /** Signals new work (new definitions, new records). */
  kick(): void;
  /** Records appended but not yet committed. */
  lag(): number;
  /** The log position whose effects are committed. */
  committedPosition(): number;
  /** Calls `listener` with the new committed position after each commit. Returns an unsubscribe function. */
  onCommit(listener: (position: number) => void): () => void;
}
