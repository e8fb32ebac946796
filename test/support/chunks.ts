/** Ingesting messages in chunks of the given sizes, draining the engine after the even-sized ones: arrival patterns for order-independence tests. */
import type { Portrait } from '../../src/index.ts';

export async function ingestInChunks(p: Portrait, messages: readonly unknown[], chunks: readonly number[]): Promise<void> {
  let i = 0;
  for (const size of chunks) {
    if (i >= messages.length) break;
    await p.ingest(messages.slice(i, i + size));
    i += size;
    if (size % 2 === 0) await p.drain();
  }
  await p.ingest(messages.slice(i));
  await p.drain();
}
