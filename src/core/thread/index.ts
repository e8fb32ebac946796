/**
 * Starting a worker thread that runs one of our TypeScript modules: the
 * thread gets the module's URL and its own data through `workerData`.
 */
import { Worker, workerData, type ResourceLimits } from 'node:worker_threads';

/** Starts `module` (a file URL) in a new thread with `data`, and the thread's heap limits when given. */
export function startThread(module: URL, data: unknown, resourceLimits?: ResourceLimits): Worker {
  return new Worker(new URL('./entry.mjs', import.meta.url), { workerData: { module: module.href, data }, execArgv: [], ...(resourceLimits ? { resourceLimits } : {}) });
}

/** Inside a thread started by `startThread`: the data it was given. */
export function threadData<T>(): T {
  return (workerData as { data: T }).data;
}

/** Lowers the calling thread's priority (see priority.ts). */
export { runInBackground, runV8HelpersInBackground } from './priority.ts';

/** Calls into a thread and answers inside it (see calls.ts). */
export { answerCalls, ThreadCalls, type Answer } from './calls.ts';
