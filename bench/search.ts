/**
 * `npm run bench:search`: profile search latency over a workspace of
 * generated profiles (default: 200,000 events over 20,000 users, the ten
 * benchmark traits, five segments over them), on the embedded SQLite store.
 * Prints the median of five runs per query, and the load average before and
 * after. Options: --events N, --users N.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Portrait } from '../src/index.ts';
import { SEGMENTS_OVER_TRAITS, TEN_TRAITS, workload } from '../test/support/workload.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' }, users: { type: 'string', default: '20000' } } });
const dir = mkdtempSync(join(tmpdir(), 'portrait-search-bench-'));
try {
  const p = await Portrait.open({ dataDir: dir, durability: 'normal', traits: [...TEN_TRAITS], segments: [...SEGMENTS_OVER_TRAITS] });
  const batch: unknown[] = [];
  for (const m of workload({ events: Number(values.events), users: Number(values.users), seed: 7, start: Date.now() - 30 * 86_400_000 })) {
    batch.push(m);
    if (batch.length === 1000) await p.ingest(batch.splice(0));
  }
  await p.ingest(batch.splice(0));
  await p.drain();
  const profiles = await p.profileCount();
  const sizes = await Promise.all(SEGMENTS_OVER_TRAITS.map(async (g) => `${g.name} ${(await p.segments.sizes(g.name, { limit: 1 }))[0]?.size ?? 0}`));
  process.stdout.write(`${profiles} profiles; segment members: ${sizes.join(', ')}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  const queries: Array<[string, unknown]> = [
    ['all, first page by id', { limit: 50 }],
    ['attribute eq (SQL prefilter)', { where: [{ field: 'attributes.city', op: 'eq', value: 'Shanghai' }], limit: 50 }],
    ['attribute range, sorted by income desc', { where: [{ field: 'attributes.age', op: 'gte', value: 30 }], sort: { field: 'attributes.income', order: 'desc' }, limit: 100 }],
    ['trait gt (no prefilter), sorted by revenue', { where: [{ field: 'traits.orders', op: 'gt', value: 2 }], sort: { field: 'traits.revenue', order: 'desc' }, limit: 100 }],
    ['window trait (evaluated now)', { where: [{ field: 'traits.views_7d', op: 'gte', value: 1 }], limit: 1000 }],
    ['attribute + trait, offset 5000', { where: [{ field: 'attributes.gender', op: 'eq', value: 'female' }, { field: 'traits.orders', op: 'gte', value: 0 }], limit: 100, offset: 5000 }],
    ['all, by id desc, offset 5000', { sort: { field: 'id', order: 'desc' }, limit: 50, offset: 5000 }],
    ['segment vip, first page by id', { where: [{ field: 'segments.vip', op: 'eq', value: true }], limit: 50 }],
    ['segment buyers, sorted by revenue desc', { where: [{ field: 'segments.buyers', op: 'eq', value: true }], sort: { field: 'traits.revenue', order: 'desc' }, limit: 100 }],
    ['segments buyers and vip, by id', { where: [{ field: 'segments.buyers', op: 'eq', value: true }, { field: 'segments.vip', op: 'eq', value: true }], limit: 50 }],
    ['segment at_risk + attribute eq', { where: [{ field: 'segments.at_risk', op: 'eq', value: true }, { field: 'attributes.city', op: 'eq', value: 'Shanghai' }], limit: 50 }],
    ['not in segment buyers (scan)', { where: [{ field: 'segments.buyers', op: 'eq', value: false }], limit: 50 }],
  ];
  for (const [name, q] of queries) {
    const times: number[] = [];
    let total = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      total = (await p.searchProfiles(q)).total;
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    process.stdout.write(`${name.padEnd(44)} total ${String(total).padStart(6)}  median ${times[2]!.toFixed(1)} ms\n`);
  }
  process.stdout.write(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  await p.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
