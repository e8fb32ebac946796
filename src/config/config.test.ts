import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, resolveConfig } from './index.ts';

describe('configuration', () => {
  it('fills every default', () => {
    const c = resolveConfig({});
    assert.equal(c.dataDir, './data');
    assert.equal(c.defaultWorkspace, 'default');
    assert.equal(c.durability, 'full');
    assert.equal(c.identity.maxAnonymousIds, 100);
    assert.equal(c.dedup.windowDays, 7);
    assert.equal(c.engine.batchSize, 20000);
    assert.equal(c.engine.sizeHistorySeconds, 60, 'segment sizes: one point per minute by default');
    assert.deepEqual(c.traitDefinitions, []);
  });

  it('lists every problem with its path, including those inside trait definitions', () => {
    assert.throws(
      () => resolveConfig({ durability: 'sometimes', bogus: 1, identity: { maxAnonymousIds: 0 }, engine: { sizeHistorySeconds: 0 }, traits: [{ name: 'Bad Name', kind: 'count' }, { name: 'x', kind: 'sum' }] } as never),
      (e: unknown) => {
        const err = e as { code: string; problems: Array<{ path: string }> };
        assert.equal(err.code, 'PORTRAIT_CONFIG_INVALID');
        const paths = err.problems.map((p) => p.path);
        assert.ok(paths.includes('/bogus'), paths.join(','));
        assert.ok(paths.includes('/identity/maxAnonymousIds'), paths.join(','));
        assert.ok(paths.includes('/engine/sizeHistorySeconds'), paths.join(','));
        assert.ok(paths.some((p) => p.startsWith('/durability')), paths.join(','));
        return true;
      },
    );
    assert.throws(
      () => resolveConfig({ traits: [{ name: 'Bad Name', kind: 'count' }, { name: 'x', kind: 'sum' }, { name: 'x', kind: 'count' }] }),
      (e: unknown) => {
        const paths = (e as { problems: Array<{ path: string }> }).problems.map((p) => p.path);
        assert.ok(paths.includes('/traits/0/name'), paths.join(','));
        assert.ok(paths.includes('/traits/1/value'), paths.join(','));
        assert.ok(paths.includes('/traits/2/name'), paths.join(','));
        return true;
      },
    );
  });

  it('declared scores: names, ranges and purposes are checked, every problem with its path', () => {
    const ok = resolveConfig({ scores: [{ name: 'churn', min: 0, max: 1, description: 'Leaving within 30 days' }, { name: 'mkt_fit', purpose: 'marketing' }], segments: [{ name: 'churning', condition: 'score.churn > 0.8' }] });
    assert.deepEqual(ok.scores.map((s) => s.name), ['churn', 'mkt_fit'], 'read');
    assert.deepEqual(resolveConfig({}).scores, [], 'none by default');
    assert.throws(
      () => resolveConfig({ scores: [{ name: 'Churn' }, { name: 'a', min: 2, max: 1 }, { name: 'a' }, { name: 'b', purpose: 'newsletter' }, { name: 'c', weight: 1 }] } as never),
      (e: unknown) => {
        const paths = (e as { problems: Array<{ path: string }> }).problems.map((p) => p.path);
        assert.ok(paths.some((p) => p.startsWith('/scores/0/name')), `a bad name: ${paths.join(',')}`);
        assert.ok(paths.includes('/scores/4/weight'), `an unknown field: ${paths.join(',')}`);
        return true;
      },
    );
    assert.throws(
      () => resolveConfig({ scores: [{ name: 'a', min: 2, max: 1 }, { name: 'a' }, { name: 'b', purpose: 'newsletter' }] }),
      (e: unknown) => {
        assert.deepEqual((e as { problems: Array<{ path: string }> }).problems.map((p) => p.path), ['/scores/0/max', '/scores/1/name', '/scores/2/purpose'], 'an empty range, a duplicate, an unknown purpose');
        return true;
      },
    );
    assert.throws(() => resolveConfig({ segments: [{ name: 's', condition: 'score.churn > 0.8' }] }), /unknown score "churn"/, 'a segment reading an undeclared score');
  });

  it('reads YAML and JSON files, then environment variables, then overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      writeFileSync(join(dir, 'portrait.config.yaml'), 'dataDir: /from/yaml\ntraits:\n  - { name: orders, kind: count, filter: { event: Order Completed } }\n');
      const fromYaml = loadConfig({ cwd: dir, env: {} });
      assert.equal(fromYaml.dataDir, '/from/yaml');
      assert.equal(fromYaml.traitDefinitions[0]?.name, 'orders');
      const fromEnv = loadConfig({ cwd: dir, env: { PORTRAIT_DATA_DIR: '/from/env', PORTRAIT_DURABILITY: 'normal' } });
      assert.equal(fromEnv.dataDir, '/from/env');
      assert.equal(fromEnv.durability, 'normal');
      assert.equal(loadConfig({ cwd: dir, env: { PORTRAIT_DATA_DIR: '/from/env' }, overrides: { dataDir: '/flag' } }).dataDir, '/flag');
      writeFileSync(join(dir, 'other.json'), JSON.stringify({ defaultWorkspace: 'shop' }));
      assert.equal(loadConfig({ cwd: dir, env: { PORTRAIT_CONFIG: join(dir, 'other.json') } }).defaultWorkspace, 'shop');
      writeFileSync(join(dir, 'broken.json'), '{ nope');
      assert.throws(() => loadConfig({ file: join(dir, 'broken.json'), env: {} }), /PORTRAIT_CONFIG_INVALID|cannot be parsed/);
      assert.throws(() => loadConfig({ file: join(dir, 'missing.yaml'), env: {} }), (e: unknown) => (e as { code: string }).code === 'PORTRAIT_CONFIG_NOT_FOUND');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('server hardening settings: defaults and environment', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cfg-'));
    const d = loadConfig({ cwd, env: {} });
    assert.deepEqual(d.server.cors.origins, [], 'no cross-origin access by default');
    assert.equal(d.server.rateLimit.perSecond, 2000, 'a generous default rate limit');
    const e = loadConfig({ cwd, env: { PORTRAIT_CORS_ORIGINS: 'https://a.example, https://b.example', PORTRAIT_RATE_LIMIT: '0' } });
    assert.deepEqual(e.server.cors.origins, ['https://a.example', 'https://b.example'], 'origins from the environment, comma-separated');
    assert.equal(e.server.rateLimit.perSecond, 0, '0 turns the limit off');
    assert.throws(
      () => loadConfig({ cwd, env: { PORTRAIT_RATE_LIMIT: 'lots' } }),
      (err: unknown) => /\/server\/rateLimit\/perSecond/.test((err as Error).message),
      'a bad value names the setting',
    );
    rmSync(cwd, { recursive: true, force: true });
  });
});
