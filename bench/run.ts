/**
 * `npm run bench`: throughput and memory of the core pipeline, each reported
 * as a ratio against a floor measured in the same run.
 *   (a) floor: JSON parse + validate + durable append to the log
 *   (b) full pipeline: the same, plus the engine with 10 computed traits
 *   (c) rebuild of the same log
 *   (d) HTTP ingest in batches of 100 from a second process, with profile
 *       read latency (p50/p99) measured while it runs
 *   (e) the full pipeline with 20 segments: throughput against (b)
 *   (f) 20 segments at a paced 5,000 events/s: latency from the append of an
 *       event to the commit holding the segment.entered row it caused
 *       (p50/p99; entries are written in the same transaction as the state);
 *       beside it the longest, the ingest call's p50/p99, the main
 *       thread's event-loop delay p99 and the engine thread's share of the
 *       paced time on a core
 * Options: --events N (default 200000), --users N (default 20000), --json,
 * --only <stages> (for example `--only d` or `--only a,b`: run and print just those;
 * a ratio is printed only when both of its sides ran), --warm-up N (default
 * 0): before (f) measures, N events of another workspace at the same pace,
 * so its numbers describe a server whose code is compiled and running.
 *
 * `--backend postgres` measures the scale-out pipeline instead (bench/cluster.ts):
 * the embedded full pipeline (b), then PostgreSQL + NATS JetStream with 1 and
 * with 2 worker processes, and with 2 workers evaluating the 20 segments of
 * (e), in the same run (--partitions N, default 8).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { SqliteEventLog } from '../src/log/index.ts';
import { Portrait } from '../src/index.ts';
import { clusterBench } from './cluster.ts';
import { httpBench, statusSummary, type HttpResult } from './http.ts';
import { TEN_TRAITS } from '../test/support/workload.ts';
import { appendRate, BATCH, ingestAll, workloadLines } from './stages.ts';
import { threadCost, threadTimes } from './threads.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    users: { type: 'string', default: '20000' },
    json: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'sqlite' },
    partitions: { type: 'string', default: '8' },
    only: { type: 'string' },
    'warm-up': { type: 'string', default: '0' },
  },
});
const N = Number(values.events);
const USERS = Number(values.users);
const WARM_UP = Number(values['warm-up']);
if (!Number.isInteger(WARM_UP) || WARM_UP < 0) throw new Error(`--warm-up takes a number of events (0 or more), got ${values['warm-up']}`);

async function floor(input: string[], dir: string): Promise<number> {
  const log = new SqliteEventLog({ file: join(dir, 'floor.db'), durability: 'full' });
  const eps = await appendRate(input, log);
  await log.close();
  return eps;
}

/** Twenty segments over the ten traits, attributes, activity and each other. */
export const TWENTY_SEGMENTS = [
  { name: 'active_7d', condition: 'last_seen within 7 days' },
  { name: 'active_1d', condition: 'last_seen within 1 day' },
  { name: 'dormant', condition: 'last_seen older than 14 days' },
  { name: 'new_users', condition: 'first_seen within 3 days' },
  { name: 'buyers', condition: 'traits.orders >= 1' },
  { name: 'repeat_buyers', condition: 'traits.orders >= 3' },
  { name: 'big_spenders', condition: 'traits.revenue > 500' },
  { name: 'big_basket', condition: 'traits.largest_order >= 300' },
  { name: 'cheap_basket', condition: 'traits.avg_order < 50' },
  { name: 'browsers', condition: 'traits.views_7d >= 5 and traits.orders = 0' },
  { name: 'explorers', condition: 'traits.categories_seen >= 4' },
  { name: 'book_fans', condition: 'traits.top_categories contains "books"' },
  { name: 'china', condition: 'attributes.city in ("Beijing", "Shanghai", "Shenzhen")' },
  { name: 'adults_30s', condition: 'attributes.age >= 30 and attributes.age < 40' },
  { name: 'high_income', condition: 'attributes.income >= 150000' },
  { name: 'engaged', condition: 'event_count >= 20' },
  { name: 'vip', condition: 'in_segment("repeat_buyers") and in_segment("big_spenders")' },
  { name: 'at_risk', condition: 'in_segment("buyers") and not in_segment("active_7d")' },
  { name: 'china_buyers', condition: 'in_segment("china") and in_segment("buyers")' },
  { name: 'has_email', condition: 'exists attributes.email' },
];

interface PipelineResult {
  eps: number;
  rebuildEps: number;
  profiles: number;
  bytesPerProfile: number;
  /** Each thread's time on a core per event (µs), busiest first: while ingesting and folding, and during the rebuild. */
  threads: ThreadUs[];
  rebuildThreads: ThreadUs[];
}

interface ThreadUs {
  name: string;
  us: number;
}

/** The busiest threads' time on a core per event (µs) between two readings: less swayed by other jobs than events/s. */
function usPerEvent(before: ReturnType<typeof threadTimes>, events: number): ThreadUs[] {
  return threadCost(before, threadTimes())
    .filter((t) => t.ms > 0)
    .slice(0, 6)
    .map((t) => ({ name: t.name, us: (t.ms * 1000) / events }));
}

/** "CPU µs per event by thread: engine-worker 54, node 21, …" (empty where /proc has no schedstat). */
const threadSummary = (threads: readonly ThreadUs[]) => (threads.length === 0 ? '' : `CPU µs per event by thread: ${threads.map((t) => `${t.name} ${Math.round(t.us)}`).join(', ')}`);
const usObject = (threads: readonly ThreadUs[]) => Object.fromEntries(threads.map((t) => [t.name, Math.round(t.us)]));

async function pipeline(input: string[], dir: string, segments: readonly unknown[] = []): Promise<PipelineResult> {
  const p = await Portrait.open({ dataDir: dir, traits: [...TEN_TRAITS], segments: [...segments], durability: 'full', engine: { cacheProfiles: USERS * 2 } });
  const threads0 = threadTimes();
  const t0 = performance.now();
  await ingestAll(p, input);
  await p.drain();
  const eps = input.length / ((performance.now() - t0) / 1000);
  const threads = usPerEvent(threads0, input.length);
  const profiles = await p.profileCount();
  const bytesPerProfile = statSync(join(dir, 'state.db')).size / profiles;
  const threads1 = threadTimes();
  const t1 = performance.now();
  await p.rebuild();
  const rebuildEps = input.length / ((performance.now() - t1) / 1000);
  const rebuildThreads = usPerEvent(threads1, input.length);
  await p.close();
  return { eps, rebuildEps, profiles, bytesPerProfile, threads, rebuildThreads };
}

/**
 * Heap per cached profile. The file-backed engine caches in its worker
 * thread, whose heap this thread cannot read, so this runs the same engine
 * in memory, in this thread, on the first 50,000 events.
 */
async function heapPerProfile(input: string[]): Promise<number> {
  const sample = input.slice(0, 50_000).map((l) => JSON.parse(l) as unknown);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const p = await Portrait.open({ traits: [...TEN_TRAITS], engine: { cacheProfiles: USERS * 2 } }, { memory: true });
  for (let i = 0; i < sample.length; i += BATCH) await p.ingest(sample.slice(i, i + BATCH));
  await p.drain();
  gc?.();
  const per = (process.memoryUsage().heapUsed - before) / (await p.profileCount());
  await p.close();
  return per;
}

/** Quantile `f` of ascending `sorted` (NaN when empty). */
const quantile = (sorted: readonly number[], f: number) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))] ?? NaN;

/**
 * Ingests at a steady rate with 20 segments; latency of each batch from append to the commit that holds its entries.
 * Beside it, what the latency does not include but shares the cores with: each batch's ingest call (until durable),
 * and the delay of this thread's event loop (which also receives the engine's commit messages).
 */
async function pacedSegments(input: string[], dir: string, rate: number, warmUp: number): Promise<{ p50: number; p99: number; max: number; entered: number; batches: number; achievedRate: number; ingestP50: number; ingestP99: number; loopDelayP99: number; threadUsPerEvent: Array<{ name: string; us: number }> }> {
  const p = await Portrait.open({ dataDir: dir, traits: [...TEN_TRAITS], segments: [...TWENTY_SEGMENTS], durability: 'full', engine: { cacheProfiles: USERS * 2 } });
  const latencies: number[] = [];
  const ingests: number[] = [];
  const batch = 50;
  const interval = (batch / rate) * 1000;
  /** Sends `lines` in batches at the pace; calls `sent` with each ingest call's time. */
  const paced = async (lines: readonly string[], workspace: string, sent: (ms: number) => void): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0, k = 0; i < lines.length; i += batch, k++) {
      const wait = t0 + k * interval - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const msgs: unknown[] = [];
      for (let j = i; j < Math.min(i + batch, lines.length); j++) msgs.push(JSON.parse(lines[j]!));
      const s = performance.now();
      await p.ingest(msgs, { workspace });
      sent(performance.now() - s);
    }
    return lines.length / ((performance.now() - t0) / 1000);
  };
  if (warmUp > 0) {
    await paced(workloadLines(warmUp, USERS), 'warm-up', () => undefined);
    await p.drain();
  }
  const off = p.onProcessed((ms) => latencies.push(ms));
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const threads0 = threadTimes();
  const achievedRate = await paced(input, 'default', (ms) => ingests.push(ms));
  await p.drain();
  const threads = usPerEvent(threads0, input.length);
  loop.disable();
  off();
  let entered = 0;
  for (let after = 0; ; ) {
    const rows = await p.segments.outbox({ after, limit: 10_000 });
    if (rows.length === 0) break;
    entered += rows.filter((r) => r.kind === 'segment.entered' && r.workspace === 'default').length;
    after = rows[rows.length - 1]!.seq;
  }
  await p.close();
  latencies.sort((x, y) => x - y);
  ingests.sort((x, y) => x - y);
  return {
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: latencies[latencies.length - 1] ?? NaN,
    entered,
    batches: latencies.length,
    achievedRate,
    ingestP50: quantile(ingests, 0.5),
    ingestP99: quantile(ingests, 0.99),
    loopDelayP99: loop.percentile(99) / 1e6,
    // Each thread's time on a core per event (µs), the busiest first (this process: the benchmark's own main thread too).
    threadUsPerEvent: threads,
  };
}

/** What the paced run measures beside its latency. */
function pacedDetail(f: { max: number; batches: number; achievedRate: number; ingestP50: number; ingestP99: number; loopDelayP99: number; threadUsPerEvent: Array<{ name: string; us: number }> }): string {
  const threads = threadSummary(f.threadUsPerEvent);
  // The engine thread's share of the run on a core: near 100 %, latency is queueing whatever the rest does.
  const engine = f.threadUsPerEvent.find((t) => t.name === 'engine-worker');
  const busy = engine === undefined ? '' : `   engine thread on a core ${Math.round((engine.us * f.achievedRate) / 1e4)} % of the paced time`;
  return `max ${f.max.toFixed(1)} ms over ${f.batches} batches   ingest call p50 ${f.ingestP50.toFixed(2)} ms p99 ${f.ingestP99.toFixed(2)} ms   event-loop delay p99 ${f.loopDelayP99.toFixed(1)} ms${busy}${threads ? `   ${threads}` : ''}`;
}

/** What the HTTP run measures beside its read latency. */
function httpDetail(d: HttpResult): string {
  return `${d.retries} retries (429)   in the server: read p50 ${d.serverReadP50.toFixed(2)} ms p99 ${d.serverReadP99.toFixed(2)} ms   event-loop delay p99 ${d.loopDelayP99.toFixed(1)} ms max ${d.loopDelayMax.toFixed(1)} ms   main thread on a core ${(d.mainRanMs / 1000).toFixed(1)} s, waiting for one ${(d.mainWaitedMs / 1000).toFixed(1)} s   CPU of the sending process ${(d.senderCpuMs / 1000).toFixed(1)} s, of the reading one ${(d.readerCpuMs / 1000).toFixed(1)} s`;
}

/** The scale-out run: embedded, then 1 and 2 workers on PostgreSQL and NATS. */
async function postgresRun(dir: string): Promise<void> {
  const input = workloadLines(N, USERS);
  const partitions = Number(values.partitions);
  const embedded = await pipeline(input, join(dir, 'pipeline'));
  const one = await clusterBench(input, dir, 1, partitions);
  const two = await clusterBench(input, dir, 2, partitions);
  const twoSegments = await clusterBench(input, dir, 2, partitions, TWENTY_SEGMENTS);
  const result = {
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
    events: N,
    users: USERS,
    partitions,
    embeddedEventsPerSec: Math.round(embedded.eps),
    oneWorkerEventsPerSec: Math.round(one.fullEps),
    twoWorkersEventsPerSec: Math.round(two.fullEps),
    ratioTwoToOneWorker: +(two.fullEps / one.fullEps).toFixed(3),
    ratioTwoWorkersToEmbedded: +(two.fullEps / embedded.eps).toFixed(3),
    ingestEventsPerSec: [Math.round(one.ingestEps), Math.round(two.ingestEps)],
    catchUpOneWorkerEventsPerSec: Math.round(one.catchUpEps),
    catchUpTwoWorkersEventsPerSec: Math.round(two.catchUpEps),
    ratioCatchUpTwoToOne: +(two.catchUpEps / one.catchUpEps).toFixed(3),
    twoWorkersSegmentsEventsPerSec: Math.round(twoSegments.fullEps),
    catchUpTwoWorkersSegmentsEventsPerSec: Math.round(twoSegments.catchUpEps),
    ratioCatchUpSegmentsToNone: +(twoSegments.catchUpEps / two.catchUpEps).toFixed(3),
  };
  if (values.json) return void process.stdout.write(`${JSON.stringify(result)}\n`);
  const rows: Array<[string, string]> = [
    ['machine', result.machine],
    ['workload', `${N} events, ${USERS} users, 10 computed traits, ${partitions} partitions`],
    ['embedded full pipeline (SQLite)', `${result.embeddedEventsPerSec} events/s`],
    ['PostgreSQL + NATS, 1 worker', `${result.oneWorkerEventsPerSec} events/s   1w/embedded = ${(one.fullEps / embedded.eps).toFixed(3)}`],
    ['PostgreSQL + NATS, 2 workers', `${result.twoWorkersEventsPerSec} events/s   2w/1w = ${result.ratioTwoToOneWorker}   2w/embedded = ${result.ratioTwoWorkersToEmbedded}`],
    ['  of which ingest alone (1 API node)', `${result.ingestEventsPerSec.join(' / ')} events/s (runs with 1 / 2 workers)`],
    ['workers alone, catching up the log', `1 worker ${result.catchUpOneWorkerEventsPerSec} events/s   2 workers ${result.catchUpTwoWorkersEventsPerSec} events/s   2w/1w = ${result.ratioCatchUpTwoToOne}`],
    ['2 workers with 20 segments', `${result.twoWorkersSegmentsEventsPerSec} events/s   catching up ${result.catchUpTwoWorkersSegmentsEventsPerSec} events/s   seg/none = ${result.ratioCatchUpSegmentsToNone}`],
  ];
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(40)} ${v}\n`);
}

const dir = mkdtempSync(join(tmpdir(), 'portrait-bench-'));
try {
  if (values.backend === 'postgres') {
    await postgresRun(dir);
    rmSync(dir, { recursive: true, force: true });
    process.exit(0); // the NATS and PostgreSQL clients of the runs are closed; leave without waiting on stray timers

  }
  if (values.backend !== 'sqlite') throw new Error(`--backend must be sqlite or postgres, got ${values.backend}`);
  // Generated when a stage first needs it (`--only d` needs none).
  let lines: string[] | undefined;
  const input = () => (lines ??= workloadLines(N, USERS));
  const only = values.only === undefined ? undefined : new Set(values.only.split(',').map((x) => x.trim()));
  const bad = [...(only ?? [])].filter((x) => !'abcdef'.includes(x) || x.length !== 1);
  if (bad.length > 0) throw new Error(`--only takes stage letters a to f separated by commas, got ${values.only}`);
  const run = <T>(stage: string, fn: () => Promise<T>): Promise<T | undefined> => (only === undefined || only.has(stage) || (stage === 'c' && only.has('b')) ? fn() : Promise.resolve(undefined));
  const a = await run('a', () => floor(input(), dir));
  const b = await run('b', () => pipeline(input(), join(dir, 'pipeline')));
  const heap = await run('b', () => heapPerProfile(input()));
  const http = await run('d', () => httpBench(join(dir, 'http'), Math.min(N, 100_000), USERS));
  const e = await run('e', () => pipeline(input(), join(dir, 'segments'), TWENTY_SEGMENTS));
  const f = await run('f', () => pacedSegments(input().slice(0, Math.min(N, 25_000)), join(dir, 'paced'), 5000, WARM_UP));
  if (only !== undefined) {
    const rows: Array<[string, string]> = [];
    if (a) rows.push(['(a) floor: parse + validate + append', `${Math.round(a)} events/s`]);
    if (b) {
      rows.push(['(b) full pipeline', `${Math.round(b.eps)} events/s${a ? `   b/a = ${(b.eps / a).toFixed(3)}` : ''}`], ['  beside (b)', threadSummary(b.threads)]);
      rows.push(['(c) rebuild', `${Math.round(b.rebuildEps)} events/s`], ['  beside (c)', threadSummary(b.rebuildThreads)], ['heap per cached profile', `${Math.round(heap ?? NaN)} B`]);
    }
    if (http) rows.push(['(d) HTTP ingest, batches of 100', `${Math.round(http.eventsPerSec)} events/s`], ['profile reads during (d)', `p50 ${http.p50.toFixed(2)} ms   p99 ${http.p99.toFixed(2)} ms   (${http.reads} reads: ${statusSummary(http.statuses)})`], ['  beside (d)', httpDetail(http)]);
    if (e) rows.push(['(e) pipeline with 20 segments', `${Math.round(e.eps)} events/s${b ? `   e/b = ${(e.eps / b.eps).toFixed(3)}` : ''}`], ['  beside (e)', threadSummary(e.threads)]);
    if (f) rows.push(['(f) event → segment.entered, paced', `p50 ${f.p50.toFixed(2)} ms   p99 ${f.p99.toFixed(2)} ms   at ${Math.round(f.achievedRate)} events/s (${f.entered} entries${WARM_UP > 0 ? `, after ${WARM_UP} warm-up events` : ''})`], ['  beside (f)', pacedDetail(f)]);
    if (values.json) process.stdout.write(`${JSON.stringify(Object.fromEntries(rows))}\n`);
    else for (const [k, v] of rows) process.stdout.write(`${k.padEnd(40)} ${v}\n`);
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }
  if (!a || !b || heap === undefined || !http || !e || !f) throw new Error('every stage ran');
  const result = {
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
    events: N,
    users: USERS,
    floorEventsPerSec: Math.round(a),
    pipelineEventsPerSec: Math.round(b.eps),
    rebuildEventsPerSec: Math.round(b.rebuildEps),
    ratioPipelineToFloor: +(b.eps / a).toFixed(3),
    ratioRebuildToFloor: +(b.rebuildEps / a).toFixed(3),
    profiles: b.profiles,
    stateBytesPerProfile: Math.round(b.bytesPerProfile),
    heapBytesPerProfile: Math.round(heap),
    httpEventsPerSec: Math.round(http.eventsPerSec),
    ratioHttpToFloor: +(http.eventsPerSec / a).toFixed(3),
    readP50Ms: +http.p50.toFixed(2),
    readP99Ms: +http.p99.toFixed(2),
    readsDuringIngest: http.reads,
    readStatuses: http.statuses,
    httpRetries: http.retries,
    serverReadP99Ms: +http.serverReadP99.toFixed(2),
    httpLoopDelayP99Ms: +http.loopDelayP99.toFixed(2),
    segmentsPipelineEventsPerSec: Math.round(e.eps),
    ratioSegmentsToPipeline: +(e.eps / b.eps).toFixed(3),
    segmentsRebuildEventsPerSec: Math.round(e.rebuildEps),
    pacedRate: Math.round(f.achievedRate),
    pacedWarmUpEvents: WARM_UP,
    enteredP50Ms: +f.p50.toFixed(2),
    enteredP99Ms: +f.p99.toFixed(2),
    enteredRows: f.entered,
    enteredMaxMs: +f.max.toFixed(2),
    pacedIngestP99Ms: +f.ingestP99.toFixed(2),
    pacedLoopDelayP99Ms: +f.loopDelayP99.toFixed(2),
    pacedThreadUsPerEvent: usObject(f.threadUsPerEvent),
    pipelineThreadUsPerEvent: usObject(b.threads),
    rebuildThreadUsPerEvent: usObject(b.rebuildThreads),
    segmentsThreadUsPerEvent: usObject(e.threads),
  };
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    const rows: Array<[string, string]> = [
      ['machine', result.machine],
      ['workload', `${N} events, ${USERS} users, 10 computed traits, durability full`],
      ['(a) floor: parse + validate + append', `${result.floorEventsPerSec} events/s`],
      ['(b) full pipeline', `${result.pipelineEventsPerSec} events/s   b/a = ${result.ratioPipelineToFloor}`],
      ['  beside (b)', threadSummary(b.threads)],
      ['(c) rebuild', `${result.rebuildEventsPerSec} events/s   c/a = ${result.ratioRebuildToFloor}`],
      ['  beside (c)', threadSummary(b.rebuildThreads)],
      ['profiles', String(result.profiles)],
      ['state on disk per profile', `${result.stateBytesPerProfile} B`],
      ['heap per cached profile', `${result.heapBytesPerProfile} B`],
      ['(d) HTTP ingest, batches of 100', `${result.httpEventsPerSec} events/s   d/a = ${result.ratioHttpToFloor} (from a second process, 8 in flight)`],
      ['profile reads during (d)', `p50 ${result.readP50Ms} ms   p99 ${result.readP99Ms} ms   (${result.readsDuringIngest} reads: ${statusSummary(result.readStatuses)})`],
      ['  beside (d)', httpDetail(http)],
      ['(e) pipeline with 20 segments', `${result.segmentsPipelineEventsPerSec} events/s   e/b = ${result.ratioSegmentsToPipeline}   rebuild ${result.segmentsRebuildEventsPerSec} events/s`],
      ['  beside (e)', threadSummary(e.threads)],
      ['(f) event → segment.entered, paced', `p50 ${result.enteredP50Ms} ms   p99 ${result.enteredP99Ms} ms   at ${result.pacedRate} events/s (${result.enteredRows} entries${WARM_UP > 0 ? `, after ${WARM_UP} warm-up events` : ''})`],
      ['  beside (f)', pacedDetail(f)],
    ];
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(40)} ${v}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
