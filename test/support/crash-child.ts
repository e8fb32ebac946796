/**
 * Crash-test child: ingests workload messages [from, to) in batches and
 * prints `ack <index>` after each batch is acknowledged. The parent kills it
 * with SIGKILL at random moments.
 */
import { Portrait } from '../../src/index.ts';
import { TEN_TRAITS, workload } from './workload.ts';

const [dir, fromArg, toArg, batchArg, paceArg, modeArg] = process.argv.slice(2);
const from = Number(fromArg);
const to = Number(toArg);
const batchSize = Number(batchArg);
const p = await Portrait.open({ dataDir: dir!, traits: [...TEN_TRAITS], identity: { hashKey: 'cd'.repeat(32) } });
const all = [...workload({ events: to, users: 2000, seed: 11, duplicateRate: 0.02 })];
for (let i = from; i < to; i += batchSize) {
  const end = Math.min(i + batchSize, to);
  await p.ingest(all.slice(i, end));
  process.stdout.write(`ack ${end}\n`);
  // A steady pace, like real traffic, so that kills land during ingest.
  if (Number(paceArg) > 0) await new Promise((r) => setTimeout(r, Number(paceArg)));
}
if (modeArg === 'drain') {
  await p.drain();
  process.stdout.write('drained\n');
}
await p.close();
