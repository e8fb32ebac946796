// The entry of every worker thread: worker threads do not inherit the TypeScript
// loader on Node 20, so register it here, then load the thread's own module.
import { writeFileSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

// The OS thread takes its module's name (Linux keeps 15 bytes), so `top -H` and
// /proc/<pid>/task/*/comm tell the threads apart; elsewhere it keeps the process's name.
try {
  writeFileSync('/proc/thread-self/comm', workerData.module.split('/').pop().replace(/\.[cm]?[jt]s$/, '').slice(0, 15));
} catch {
  // Not Linux, or not permitted: the name only helps diagnosis.
}
register();
await import(workerData.module);
