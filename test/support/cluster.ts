/**
 * Deployments of partitioned workers for tests, and comparing their state.
 * Rows of the merges and conflict tables are numbered (`seq`) in commit
 * order, and partitions commit in whatever order their workers run: across
 * partitions that order is not state. These lines are compared without
 * `seq`, as a sorted list; every other line keeps its place.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import type { ConfigInput } from '../../src/config/index.ts';
import type { ProfileDoc } from '../../src/core/profile.ts';
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

/** Polls `check` every 50 ms until it holds, or fails after `ms` with `what` (a function: what it says then, for example the state it saw or reads). */
export async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string | (() => string | Promise<string>)): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${typeof what === 'string' ? what : await what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A deployment of its own (`tempDeployment`), dropped by `cleanups`: the configuration of a node on it. */
export async function clusterDeployment(
  partitions: number,
  cleanups: Array<() => Promise<void>>,
  base: Partial<ConfigInput> = {},
): Promise<(cluster?: ClusterOptions) => ConfigInput> {
  const d = await tempDeployment(partitions, base);
  cleanups.push(d.dispose);
  return d.config;
}

/** The profile documents of a state dump. */
export function profilesOf(dump: readonly string[]): ProfileDoc[] {
  return dump.filter((l) => l.startsWith('profile ')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as ProfileDoc);
}

/**
 * Every identifier is owned by exactly one partition (the only one whose
 * route names a profile), that profile exists and holds it, the shared
 * identity row names the same profile, and every identifier of a profile has
 * an owner.
 */
export function assertOneOwner(dump: readonly string[]): void {
  const profiles = new Map(profilesOf(dump).map((d) => [`${d.workspace} ${d.id}`, d]));
  const owners = new Map<string, Array<{ partition: number; profile_id: string }>>();
  for (const l of dump.filter((x) => x.startsWith('identity_routes '))) {
    const r = JSON.parse(l.slice('identity_routes '.length)) as { partition: number; workspace: string; ident: string; profile_id: string | null };
    if (r.profile_id === null) continue;
    const k = `${r.workspace} ${r.ident}`;
    owners.set(k, [...(owners.get(k) ?? []), { partition: r.partition, profile_id: r.profile_id }]);
  }
  const shared = new Map(
    dump
      .filter((x) => x.startsWith('identities '))
      .map((l) => JSON.parse(l.slice('identities '.length)) as { workspace: string; ident: string; profile_id: string })
      .map((r) => [`${r.workspace} ${r.ident}`, r.profile_id]),
  );
  assert.ok(owners.size > 0, 'partitions keep routes');
  for (const [k, o] of owners) {
    assert.equal(o.length, 1, `${k} has one owner: ${JSON.stringify(o)}`);
    const ws = k.slice(0, k.indexOf(' '));
    const doc = profiles.get(`${ws} ${o[0]!.profile_id}`);
    assert.ok(doc?.identifiers.includes(k.slice(k.indexOf(' ') + 1)), `the owner's profile of ${k} exists and holds it`);
    assert.equal(shared.get(k), o[0]!.profile_id, `the shared identity row of ${k} names the owner's profile`);
  }
  for (const d of profiles.values()) for (const i of d.identifiers) assert.ok(owners.has(`${d.workspace} ${i}`), `${i} of ${d.id} has an owner`);
}
