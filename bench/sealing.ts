/**
 * The cost of sealing personal fields in the event log, as stages (a) and (b)
 * of `npm run bench` measure them, with sealing off (`privacy.piiFields: []`)
 * and on (the default fields), alternated so machine load hits both alike.
 *   (a) parse + validate + durable append, through the sealing log
 *   (b) the full pipeline (ten traits, engine thread), ingest to drained
 * Options: --events N (default 100000), --users N (default 10000), --rounds N (default 2).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveConfig } from '../src/config/index.ts';
import { ManualClock } from '../src/core/clock.ts';
import { SqliteEventLog } from '../src/log/index.ts';
import { DataKeys, Keyring, SealedEventLog } from '../src/privacy/index.ts';
import { SqliteStore } from '../src/storage/index.ts';
import { Portrait } from '../src/index.ts';
import { TEN_TRAITS } from '../test/support/workload.ts';
import { appendRate, ingestAll, workloadLines } from './stages.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '100000' }, users: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '2' } } });
const N = Number(values.events);
const USERS = Number(values.users);
/** The default personal fields (`privacy.piiFields` of an empty configuration). */
const PII = resolveConfig({}).privacy.piiFields;
const input = workloadLines(N, USERS);

async function floor(dir: string, fields: string[]): Promise<number> {
  const store = new SqliteStore({ file: join(dir, 'state.db') });
  const keys = new DataKeys({ table: store.dataKeys, keyring: Keyring.generate(), hashKey: Buffer.alloc(32, 1), clock: new ManualClock(0) });
  const log = new SealedEventLog(new SqliteEventLog({ file: join(dir, 'floor.db'), durability: 'full' }), keys, fields);
  const eps = await appendRate(input, log);
  await log.close();
  await store.close();
  return eps;
}

async function pipeline(dir: string, fields: string[]): Promise<number> {
  const p = await Portrait.open({ dataDir: dir, traits: [...TEN_TRAITS], durability: 'full', engine: { cacheProfiles: USERS * 2 }, privacy: { piiFields: fields } });
  const t0 = performance.now();
  await ingestAll(p, input);
  await p.drain();
  const eps = input.length / ((performance.now() - t0) / 1000);
  await p.close();
  return eps;
}

const root = mkdtempSync(join(tmpdir(), 'portrait-seal-bench-'));
try {
  let k = 0;
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [label, fields] of [['off', []], ['on', PII]] as const) {
      const a = await floor(mkdtempSync(join(root, `${k++}-`)), [...fields]);
      const b = await pipeline(mkdtempSync(join(root, `${k++}-`)), [...fields]);
      process.stdout.write(`round ${round + 1} sealing ${label.padEnd(3)}  (a) ${Math.round(a)} events/s   (b) ${Math.round(b)} events/s   b/a ${(b / a).toFixed(2)}\n`);
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
