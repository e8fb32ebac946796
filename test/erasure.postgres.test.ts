import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ManualClock } from '../src/core/clock.ts';
import { Portrait } from '../src/index.ts';
import { tempDir, T0 } from './support/open.ts';
import { serviceSkip, tempDatabase } from './support/services.ts';

const skip = await serviceSkip('PostgreSQL');

describe('privacy on PostgreSQL', { skip }, () => {
  it('exports a person, and answers 501 PORTRAIT_NOT_ON_THIS_BACKEND to an erasure without touching anything', async () => {
    const { dir, cleanup } = tempDir();
    const db = await tempDatabase();
    try {
      const p = await Portrait.open({ dataDir: dir, identity: { hashKey: 'ab'.repeat(32) }, cluster: { databaseUrl: db.url } }, { clock: new ManualClock(T0) });
      try {
        await p.ingest([
          { type: 'identify', userId: 'pg1', traits: { city: 'Lima' }, messageId: 'i1' },
          { type: 'track', userId: 'pg1', event: 'Order Completed', messageId: 't1' },
        ]);
        await p.drain();
        const out = await p.privacy.export('user_id', 'pg1');
        assert.equal(out.events.length, 2, 'the export reads the events');
        assert.equal(out.profile.attributes.city, 'Lima', 'and the profile');
        await assert.rejects(p.privacy.erase('user_id', 'pg1'), (e: { code: string; status: number }) => e.code === 'PORTRAIT_NOT_ON_THIS_BACKEND' && e.status === 501, 'erasure is a 501 here');
        await assert.rejects(p.privacy.erasures(), { code: 'PORTRAIT_NOT_ON_THIS_BACKEND' }, 'so is the ledger');
        const after = await p.ingest([{ type: 'track', userId: 'pg1', event: 'Again', messageId: 't2' }]);
        assert.equal(after.accepted, 1, 'nothing was suppressed');
      } finally {
        await p.close();
      }
    } finally {
      await db.drop();
      cleanup();
    }
  });
});
