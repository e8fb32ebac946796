/**
 * What the cross-partition tests share: sending traffic in phases, each
 * person's profile and the refused links (to compare with the embedded mode),
 * and deployments whose workers stop and resume, checked against a rebuild.
 */
import { strict as assert } from 'node:assert';
import { ManualClock } from '../../src/core/clock.ts';
import { Portrait, type ConfigInput } from '../../src/index.ts';
import { partitionOf } from '../../src/log/index.ts';
import { clusterDeployment, comparableDump, profilesOf, type ClusterOptions } from './cluster.ts';
import { T0 } from './open.ts';
import { TEN_TRAITS } from './workload.ts';

export const BASE: ConfigInput = { traits: [...TEN_TRAITS], identity: { hashKey: 'ab'.repeat(32) } };

/** Sends each phase, then drains (so the order between phases is the same in every mode); the events accepted. */
export async function sendPhases(p: Portrait, phases: readonly unknown[][]): Promise<number> {
  let accepted = 0;
  for (const phase of phases) {
    for (let i = 0; i < phase.length; i += 200) accepted += (await p.ingest(phase.slice(i, i + 200))).accepted;
    await p.drain();
  }
  return accepted;
}

/** Each profile as a user sees it at T0, keyed by its identifiers (profile ids differ between modes). */
export async function persons(p: Portrait): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const d of profilesOf(await p.stateDump())) {
    const v = await p.profile('profile_id', d.id, { workspace: d.workspace, now: T0 });
    assert.ok(v !== undefined, `profile ${d.id} reads back`);
    const { id: _id, ...rest } = v;
    out.set(`${d.kind} ${[...d.identifiers].sort().join(' ')}`, rest);
  }
  return out;
}

/** The refused links, as `reason a b`, sorted. */
export async function conflicts(p: Portrait): Promise<string[]> {
  return (await p.identityConflicts()).map((c) => `${c.reason} ${c.a} ${c.b}`).sort();
}

export function assertSamePersons(got: Map<string, unknown>, want: Map<string, unknown>): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), 'the same people (identifier sets) as the embedded mode');
  for (const [k, v] of want) assert.deepEqual(got.get(k), v, `${k}: the same attributes, traits and counts as the embedded mode`);
}

/** Helpers whose nodes and deployments `cleanups` closes and drops. */
export function partitionedDeployments(cleanups: Array<() => Promise<void>>) {
  /**
   * A deployment of two partitions with an API node, and a person whose user id
   * is homed in partition 1 and anonymous id in 0: an identify (made in 1, the
   * user's) hands the user's profile down to 0. The ids hold a '.', which no
   * generated id or hash in the state has, so a search of the state's lines for
   * them cannot match by chance.
   */
  async function handingDown(prefix: string) {
    const config = await clusterDeployment(2, cleanups, BASE);
    const clock = new ManualClock(T0);
    const api = await Portrait.open(config({ role: 'api' }), { clock });
    cleanups.push(() => api.close());
    let i = 0;
    while (!(partitionOf('default', `${prefix}.user.${i}.`, 2) === 1 && partitionOf('default', `${prefix}.anon.${i}.`, 2) === 0)) i++;
    return { config, clock, api, u: `${prefix}.user.${i}.`, a: `${prefix}.anon.${i}.` };
  }

  /** Starts a worker (`next`) after a pause with none running, waits until each erasure has completed, and drains. */
  async function resumeWorkers(api: Portrait, config: (cluster?: ClusterOptions) => ConfigInput, clock: ManualClock, erasures: readonly string[]): Promise<Portrait> {
    const next = await Portrait.open(config({ role: 'worker', workerId: 'next' }), { clock });
    cleanups.push(() => next.close());
    for (const id of erasures) assert.equal((await api.privacy.waitFor(id)).status, 'completed');
    await api.drain();
    return next;
  }

  /** Rebuilds the state from the log on a node of its own (the workers stopped) and checks that it equals `state`, compared as `view` shows them. */
  async function assertRebuilds(config: (cluster?: ClusterOptions) => ConfigInput, clock: ManualClock, state: readonly string[], view: (dump: readonly string[]) => string[] = comparableDump): Promise<void> {
    const rebuilt = await Portrait.open(config({ role: 'all', workerId: 'rebuild' }), { clock });
    cleanups.push(() => rebuilt.close());
    await rebuilt.rebuild();
    assert.deepEqual(view(await rebuilt.stateDump()), view(state), 'a rebuild from the log gives the same state');
  }

  return { handingDown, resumeWorkers, assertRebuilds };
}
