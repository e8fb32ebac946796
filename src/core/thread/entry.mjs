// The entry of every worker thread: worker threads do not inherit the TypeScript
// loader on Node 20, so register it here, then load the thread's own module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
