/**
 * This process's threads' time on a core, from the Linux scheduler's
 * statistics (/proc/<thread>/schedstat): what a benchmark's threads cost.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** A thread's time on a core (ms): this thread's by default. */
export const cpu = (thread = '/proc/thread-self') => Number(readFileSync(`${thread}/schedstat`, 'utf8').split(' ')[0]) / 1e6;

/** The /proc directory of this process's thread named `name` (worker threads take their module's name). */
export function threadNamed(name: string): string {
  for (const tid of readdirSync('/proc/self/task')) {
    if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === name) return `/proc/self/task/${tid}`;
  }
  throw new Error(`no thread named ${name}`);
}

/** Time on a core (ms) per thread id with its name (`main` for the main thread); empty where /proc has no schedstat (not Linux). */
export function threadTimes(): Map<string, { name: string; ms: number }> {
  const out = new Map<string, { name: string; ms: number }>();
  if (!existsSync('/proc/self/task')) return out;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      // The main thread's id is the process id; libuv's and V8's helpers keep the name "node" too.
      const name = tid === String(process.pid) ? 'main' : readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      out.set(tid, { name, ms: cpu(`/proc/self/task/${tid}`) });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/**
 * Per thread name, the time on a core between two `threadTimes()` readings
 * (threads started between them count from zero), largest first.
 */
export function threadCost(before: Map<string, { name: string; ms: number }>, after: Map<string, { name: string; ms: number }>): Array<{ name: string; ms: number }> {
  const byName = new Map<string, number>();
  for (const [tid, t] of after) byName.set(t.name, (byName.get(t.name) ?? 0) + t.ms - (before.get(tid)?.ms ?? 0));
  return [...byName].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms);
}
