/** Thread priorities: background work gives way to the threads that answer requests. */
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';

/** The nice value of background threads (the engine, its checkpoints, V8's helper threads). */
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

/** V8's worker threads when `--v8-pool-size` is not given (Node's default). */
const DEFAULT_V8_POOL_SIZE = 4;

/** A thread of this process as /proc shows it. */
export interface ProcThread {
  tid: number;
  /** Its name (/proc/…/comm). */
  name: string;
}

/**
 * Which of this process's threads are V8's platform threads (its worker pool,
 * which runs the garbage collectors' parallel and concurrent work and
 * optimising compilation for every thread's heap, and its delayed-task
 * scheduler): Node creates them at start-up, before any other thread, so they
 * are the `poolSize + 1` lowest thread ids after the main thread's that still
 * carry the process's name (worker threads started here take their module's
 * name; libuv's thread pool starts later, on first use). Empty when the pool
 * size was chosen on the command line (`--v8-pool-size`): then the
 * count is not known for sure, and a libuv thread, which decompresses
 * request bodies, must not be slowed by mistake.
 */
export function v8PlatformThreads(threads: readonly ProcThread[], mainTid: number, nodeOptions: readonly string[]): ProcThread[] {
  // Node takes underscores for dashes in option names.
  if (nodeOptions.some((o) => o.replace(/_/g, '-').startsWith('--v8-pool-size'))) return [];
  const main = threads.find((t) => t.tid === mainTid);
  if (main === undefined) return [];
  const others = threads.filter((t) => t.tid > mainTid).sort((a, b) => a.tid - b.tid);
  const platform = others.slice(0, DEFAULT_V8_POOL_SIZE + 1);
  // A differently named thread among them means the start-up order is not the expected one: leave all as they are.
  return platform.length === DEFAULT_V8_POOL_SIZE + 1 && platform.every((t) => t.name === main.name) ? platform : [];
}

/** This process's threads (Linux: /proc/self/task). */
export function procThreads(): ProcThread[] {
  return readdirSync('/proc/self/task').map((t) => ({ tid: Number(t), name: readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() }));
}

/** The options this process was started with: its command line's and NODE_OPTIONS'. */
export function nodeOptions(): string[] {
  return [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
}

let helpersLowered = false;

/**
 * Moves V8's platform threads to the background priority, once per process.
 * Most of their work is collecting the engine thread's garbage (in the
 * benchmark's full pipeline they used about half as much CPU as the engine
 * thread itself), and at the normal priority they took the cores from the
 * threads that answer requests. On Linux only; elsewhere, or when not
 * permitted, nothing changes.
 */
export function runV8HelpersInBackground(): void {
  if (helpersLowered || process.platform !== 'linux') return;
  helpersLowered = true;
  try {
    for (const t of v8PlatformThreads(procThreads(), process.pid, nodeOptions())) setPriority(t.tid, BACKGROUND_NICE);
  } catch {
    // /proc unreadable or the priority not permitted: they keep the normal priority.
  }
}
