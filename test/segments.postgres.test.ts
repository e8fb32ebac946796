import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DAY, ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { tempDir, T0 } from './support/open.ts';
import { serviceSkip, tempDatabase } from './support/services.ts';
import { TEN_TRAITS, workload } from './support/workload.ts';

const skip = await serviceSkip('PostgreSQL');

const SEGMENTS = [
  { name: 'active_7d', condition: 'last_seen within 7 days' },
  { name: 'buyers', condition: 'traits.orders >= 1' },
  { name: 'big_spenders', condition: 'traits.revenue > 200' },
  { name: 'vip', condition: 'in_segment("buyers") and in_segment("big_spenders")' },
  { name: 'at_risk', condition: 'in_segment("buyers") and not in_segment("active_7d")' },
];
const TAGS = [{ name: 'value/high', condition: 'traits.revenue > 100' }, { name: 'crm/watch' }];

/** What segments and tags hold after a run: members, size history, tag tree and notifications. */
async function observe(p: Portrait): Promise<unknown> {
  const out: Record<string, unknown> = {};
  for (const s of SEGMENTS) {
    out[`members ${s.name}`] = [...(await p.segments.memberIds(s.name))].sort();
    out[`sizes ${s.name}`] = await p.segments.sizes(s.name, { limit: 1000 });
  }
  out.tags = await p.segments.tagTree();
  const kinds: Record<string, number> = {};
  for (let after = 0; ; ) {
    const rows = await p.segments.outbox({ after, limit: 5000 });
    if (rows.length === 0) break;
    for (const r of rows) kinds[`${r.kind} ${(r.payload as { segment?: string }).segment}`] = (kinds[`${r.kind} ${(r.payload as { segment?: string }).segment}`] ?? 0) + 1;
    after = rows[rows.length - 1]!.seq;
  }
  out.outbox = kinds;
  return out;
}

async function run(config: Record<string, unknown>): Promise<unknown> {
  const clock = new ManualClock(T0);
  const p = await Portrait.open({ ...config, traits: [...TEN_TRAITS], segments: [...SEGMENTS], tags: [...TAGS], identity: { hashKey: 'cd'.repeat(32) }, durability: 'normal' }, { clock });
  try {
    const all = [...workload({ events: 3_000, users: 300, seed: 11, start: T0 - 3 * DAY })];
    for (let i = 0; i < all.length; i += 500) await p.ingest(all.slice(i, i + 500));
    await p.drain();
    // Time alone moves profiles out of active_7d and into at_risk.
    for (const step of [2, 3, 5]) {
      clock.advance(step * DAY);
      await p.drain();
    }
    const [first] = [...(await p.segments.memberIds('buyers'))].sort();
    assert.ok(first, 'a buyer to tag by hand');
    await p.segments.tag('crm/watch', 'profile_id', first, true);
    return await observe(p);
  } finally {
    await p.close();
  }
}

describe('segments and tags on PostgreSQL', { skip }, () => {
  it('hold the same members, sizes, tags and notifications as the embedded store', async () => {
    const { dir, cleanup } = tempDir();
    const db = await tempDatabase();
    try {
      const embedded = await run({ dataDir: `${dir}/embedded` });
      const onPostgres = await run({ dataDir: `${dir}/pg`, cluster: { databaseUrl: db.url } });
      const e = embedded as Record<string, unknown>;
      assert.ok((e['members buyers'] as string[]).length > 0, 'the workload makes buyers');
      assert.ok(Object.keys(e.outbox as object).some((k) => k.startsWith('segment.exited active_7d')), 'time alone ends some active_7d memberships');
      assert.deepEqual(onPostgres, embedded, 'PostgreSQL holds what the embedded store holds');
    } finally {
      await db.drop();
      cleanup();
    }
  });
});
