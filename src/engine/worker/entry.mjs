// The worker thread's entry: worker threads do not inherit the TypeScript loader
// on Node 20, so register it here before loading the engine worker.
import { register } from 'tsx/esm/api';

register();
await import('./engine-worker.ts');
