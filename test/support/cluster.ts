/**
 * Deployments of partitioned workers for tests, and comparing their state.
 * Rows of the merges and conflict tables are numbered (`seq`) in commit
 * order, and partitions commit in whatever order their workers run: across
 * partitions that order is not state. These lines are compared without
 * `seq`, as a sorted list; every other line keeps its place.
 */
import { randomBytes } from 'node:crypto';
import type { ConfigInput } from '../../src/index.ts';
import { NatsEventLog } from '../../src/log/index.ts';
import { NATS_URL, tempDatabase } from './services.ts';
import { TEN_TRAITS } from './workload.ts';

export type ClusterOptions = Partial<NonNullable<ConfigInput['cluster']>>;

/**
 * A database and a stream of their own (`dispose` drops both), and the
 * configuration of a node on them: the ten traits, `base`, and the cluster
 * options given per node (role, worker id).
 */
export async function tempDeployment(partitions: number, base: Partial<ConfigInput> = {}): Promise<{ config: (cluster?: ClusterOptions) => ConfigInput; url: string; dispose: () => Promise<void> }> {
  const db = await tempDatabase();
  const stream = `PORTRAIT_TEST_${randomBytes(6).toString('hex')}`;
  const config = (cluster: ClusterOptions = {}): ConfigInput => ({
    traits: [...TEN_TRAITS],
    identity: { hashKey: 'ab'.repeat(32) },
    dataDir: '/nonexistent-portrait-test-dir',
    engine: { commitIntervalMs: 20 },
    ...base,
    cluster: { databaseUrl: db.url, natsUrl: NATS_URL, stream, partitions, leaseTimeoutMs: 900, ...cluster },
  });
  const dispose = async () => {
    const admin = await NatsEventLog.open({ servers: NATS_URL, stream, partitions });
    await admin.destroy();
    await db.drop();
  };
  return { config, url: db.url, dispose };
}

const NUMBERED = ['merges ', 'identity_conflicts ', 'attribute_conflicts '];

export function comparableDump(lines: readonly string[]): string[] {
  const kept: string[] = [];
  const numbered: string[] = [];
  for (const l of lines) {
    const table = NUMBERED.find((t) => l.startsWith(t));
    if (table === undefined) {
      kept.push(l);
      continue;
    }
    const row = JSON.parse(l.slice(table.length)) as Record<string, unknown>;
    delete row.seq;
    numbered.push(table + JSON.stringify(Object.fromEntries(Object.entries(row).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))));
  }
  return [...kept, ...numbered.sort()];
}

/** Polls `check` every 50 ms until it holds, or fails after `ms` with `what`. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
