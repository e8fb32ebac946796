import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DAY, ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { tempDir, T0 } from './support/open.ts';
import { serviceSkip, tempDatabase } from './support/services.ts';
import { SEGMENTS_OVER_TRAITS, TEN_TRAITS, workload } from './support/workload.ts';

const skip = await serviceSkip('PostgreSQL');

const SEGMENTS = [...SEGMENTS_OVER_TRAITS, { name: 'churning', condition: 'score.churn >= 0.5 and in_segment("buyers")' }];
const SCORES = [{ name: 'churn', min: 0, max: 1 }];
const TAGS = [{ name: 'value/high', condition: 'traits.revenue > 100' }, { name: 'crm/watch' }];

/**
 * What segments and tags hold after a run: members, the current size, the
 * tag tree, and the notifications' net effect per segment (entered minus
 * exited). Absolute notification counts and intermediate sizes depend on how
 * events fall into commits (a profile created and merged away within one
 * commit never enters), which differs between the engine thread and the
 * in-process engine under load; the net effect does not.
 */
async function observe(p: Portrait): Promise<unknown> {
  const out: Record<string, unknown> = {};
  for (const s of SEGMENTS) {
    out[`members ${s.name}`] = [...(await p.segments.memberIds(s.name))].sort();
    out[`size ${s.name}`] = (await p.segments.sizes(s.name, { limit: 1 }))[0]?.size;
  }
  out.tags = await p.segments.tagTree();
  const search = await p.searchProfiles({ where: [{ field: 'scores.churn', op: 'gte', value: 0.25 }], sort: { field: 'scores.churn', order: 'desc' }, limit: 1000 });
  out.searchByScore = search.items.map((v) => [v.id, v.scores.churn?.value]);
  const net: Record<string, number> = {};
  for (let after = 0; ; ) {
    const rows = await p.segments.outbox({ after, limit: 5000 });
    if (rows.length === 0) break;
    for (const r of rows) {
      const segment = (r.payload as { segment?: string }).segment ?? '';
      net[segment] = (net[segment] ?? 0) + (r.kind === 'segment.entered' ? 1 : r.kind === 'segment.exited' ? -1 : 0);
    }
    after = rows[rows.length - 1]!.seq;
  }
  out.outboxNet = net;
  return out;
}

async function run(config: Record<string, unknown>): Promise<unknown> {
  const clock = new ManualClock(T0);
  const p = await Portrait.open({ ...config, traits: [...TEN_TRAITS], segments: [...SEGMENTS], tags: [...TAGS], scores: [...SCORES], identity: { hashKey: 'cd'.repeat(32) }, durability: 'normal' }, { clock });
  try {
    const all = [...workload({ events: 3_000, users: 300, seed: 11, start: T0 - 3 * DAY })];
    for (let i = 0; i < all.length; i += 500) await p.ingest(all.slice(i, i + 500));
    // A model's scores for a third of the users, some sent twice (the later one counts).
    const scored = Array.from({ length: 100 }, (_, u) => ({ type: 'identify', userId: `u${u * 3}`, messageId: `score-${u}`, timestamp: T0 - DAY + u, context: { scores: { churn: (u % 5) / 4 } } }));
    const rescored = scored.slice(0, 20).map((m, u) => ({ ...m, messageId: `rescore-${u}`, timestamp: T0, context: { scores: { churn: 1 - (u % 5) / 4 } } }));
    await p.ingest([...rescored, ...scored]);
    await p.drain();
    // Time alone moves profiles out of active_7d and into at_risk.
    for (const step of [2, 3, 5]) {
      clock.advance(step * DAY);
      await p.drain();
    }
    const [first] = [...(await p.segments.memberIds('buyers'))].sort();
    assert.ok(first, 'a buyer to tag by hand');
    await p.segments.tag('crm/watch', 'profile_id', first, true);
    // The decision goes through the log: the engine folds it like any event.
    await p.drain();
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
      assert.ok((e['members at_risk'] as string[]).length > 0, 'time alone ended active_7d memberships: some buyers are at risk');
      assert.ok((e['members churning'] as string[]).length > 0, 'scores put some buyers in churning');
      assert.ok((e.searchByScore as unknown[]).length > 0, 'a search by score finds profiles');
      for (const seg of SEGMENTS)
        assert.equal((e.outboxNet as Record<string, number>)[seg.name] ?? 0, (e[`members ${seg.name}`] as string[]).length, `${seg.name}: entries minus exits in the outbox equal the members`);
      assert.deepEqual(onPostgres, embedded, 'PostgreSQL holds what the embedded store holds');
    } finally {
      await db.drop();
      cleanup();
    }
  });
});
