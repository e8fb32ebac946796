/** Sealing at the row layer and the audit table, on both SQL backends. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { serviceSkip, tempDatabase } from '../../test/support/services.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { Keyring } from '../privacy/keyring.ts';
import { PiiSealer } from '../privacy/pii-sealer.ts';
import type { AuditStore } from './audit.ts';
import { PostgresStore } from './postgres/postgres-store.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import { emptyChangeset, type StateStore } from './store.ts';

type Opened = { store: StateStore & AuditStore; raw: () => Promise<string>; dispose: () => Promise<void> };

const EMAIL = 'zed.private@example.org';

function doc(): ProfileDoc {
  const d = emptyProfile('p1', 'w', 'user', 1);
  d.attributes.email = { v: EMAIL, t: 1, id: 'm1' };
  d.attributes.city = { v: 'Quito', t: 1, id: 'm1' };
  return d;
}

function suite(name: string, open: (sealer: PiiSealer) => Promise<Opened>, skip: string | false): void {
  describe(`privacy at the store layer: ${name}`, { skip }, () => {
    it('seals personal values in rows and opens them on read; the dump is plaintext', async () => {
      const sealer = new PiiSealer(Keyring.generate(), ['email']);
      const { store, raw, dispose } = await open(sealer);
      try {
        const c = emptyChangeset(0, 1);
        c.profiles.push(doc());
        c.history.push({ workspace: 'w', profileId: 'p1', position: 1, messageId: 'm1', time: 1, changes: { 'attr.email': [undefined, EMAIL], 'attr.city': [undefined, 'Quito'] } });
        c.attributeConflicts.push({ workspace: 'w', profileId: 'p1', attribute: 'email', reason: 'stale', kept: EMAIL, rejected: 'old@example.org', position: 1, messageId: 'm1' });
        await store.commit(c);
        const text = await raw();
        assert.ok(!text.includes(EMAIL) && !text.includes('old@example.org'), 'no plaintext email in profiles, history or conflicts');
        assert.ok(text.includes('Quito'), 'other fields stay plaintext');
        const read = (await store.profiles([{ workspace: 'w', id: 'p1' }])).get('w\u0000p1');
        assert.equal(read?.attributes.email?.v, EMAIL, 'the profile reads plaintext');
        assert.deepEqual((await store.history('w', 'p1'))[0]?.changes['attr.email'], [null, EMAIL], 'history reads plaintext');
        const conflict = (await store.attributeConflicts('w', 'p1'))[0];
        assert.deepEqual([conflict?.kept, conflict?.rejected], [EMAIL, 'old@example.org'], 'conflicts read plaintext');
        const seen: ProfileDoc[] = [];
        await store.scanProfiles('w', [{ attribute: 'email', op: 'eq', value: EMAIL }], (d) => seen.push(d));
        assert.equal(seen[0]?.attributes.email?.v, EMAIL, 'a scan with a prefilter on a sealed field still visits the profile, opened');
        const dump = (await store.dump()).join('\n');
        assert.ok(dump.includes(EMAIL) && !dump.includes('pe1.'), 'the dump lists plaintext, so it compares across rebuilds');
      } finally {
        await store.close();
        await dispose();
      }
    });

    it('passes every data key to a rewrite in batches and stores the new tokens it returns', async () => {
      const { store, dispose } = await open(new PiiSealer(Keyring.generate(), []));
      try {
        const subjects = ['a', 'b', 'c', 'd', 'e'];
        await store.dataKeys.insertMissing('w', subjects.map((subject) => ({ subject, sealed: `old-${subject}` })), 1);
        await store.dataKeys.insertMissing('v', [{ subject: 'a', sealed: 'old-va' }], 1);
        const seen: string[] = [];
        const report = await store.dataKeys.rewrite((ws, subject, sealed) => {
          seen.push(`${ws}/${subject}`);
          return sealed.startsWith('old-') && subject !== 'c' ? `new-${ws}${subject}` : undefined;
        }, 2);
        assert.deepEqual(seen, ['v/a', 'w/a', 'w/b', 'w/c', 'w/d', 'w/e'], 'every key once, in order, over batches of two');
        assert.deepEqual([report.scanned, report.rewritten, report.raced], [6, 5, 0], 'the report counts them');
        const keys = await store.dataKeys.get('w', subjects);
        assert.deepEqual(subjects.map((x) => keys.get(x)), ['new-wa', 'new-wb', 'old-c', 'new-wd', 'new-we'], 'rewritten where a token was returned');
        assert.equal((await store.dataKeys.get('v', ['a'])).get('a'), 'new-va', 'across workspaces');
      } finally {
        await store.close();
        await dispose();
      }
    });

    it('appends audit records in batches and reads them filtered, newest first', async () => {
      const { store, dispose } = await open(new PiiSealer(Keyring.generate(), []));
      try {
        const base = { workspace: 'w', scope: 'read', method: 'GET', status: 200, requestId: 'r' };
        await store.appendAudit([
          { ...base, at: 10, keyId: 'k1', route: '/v1/profiles/:idType/:id' },
          { ...base, at: 20, keyId: 'k2', route: '/v1/quarantine' },
          { ...base, at: 30, keyId: 'k1', route: '/v1/quarantine', workspace: 'x' },
        ]);
        const all = await store.auditRecords({ workspace: 'w', limit: 10 });
        assert.deepEqual(all.map((r) => r.at), [20, 10], 'newest first, one workspace');
        assert.deepEqual((await store.auditRecords({ workspace: 'w', keyId: 'k1', limit: 10 })).map((r) => r.at), [10], 'by key');
        assert.deepEqual((await store.auditRecords({ workspace: 'w', route: '/v1/quarantine', limit: 10 })).map((r) => r.at), [20], 'by route');
        assert.deepEqual((await store.auditRecords({ workspace: 'w', from: 15, to: 25, limit: 10 })).map((r) => r.at), [20], 'by time');
        assert.deepEqual((await store.auditRecords({ workspace: 'w', before: all[0]!.seq, limit: 10 })).map((r) => r.at), [10], 'paged by seq');
        assert.deepEqual((await store.auditRecords({ workspace: "w' OR 1=1 --", limit: 10 })), [], 'an injection string is just a workspace name');
      } finally {
        await store.close();
        await dispose();
      }
    });
  });
}

suite(
  'SQLite',
  async (sealer) => {
    const store = new SqliteStore({ file: ':memory:', sealer });
    const raw = async () => JSON.stringify(['profiles', 'trait_history', 'attribute_conflicts'].map((t) => store.db.prepare(`SELECT * FROM ${t}`).all()));
    return { store, raw, dispose: async () => {} };
  },
  false,
);

suite(
  'PostgreSQL',
  async (sealer) => {
    const db = await tempDatabase();
    const store = await PostgresStore.open({ url: db.url, poolSize: 2, sealer });
    const raw = async () => JSON.stringify(await Promise.all(['profiles', 'trait_history', 'attribute_conflicts'].map(async (t) => (await store.pool.query(`SELECT * FROM ${t}`)).rows)));
    return { store, raw, dispose: db.drop };
  },
  await serviceSkip('PostgreSQL'),
);
