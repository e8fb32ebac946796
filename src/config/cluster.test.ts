import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { isPortraitError } from '../core/errors.ts';
import { loadConfig, resolveConfig } from './index.ts';

describe('config: cluster (scale-out) settings', () => {
  it('defaults to the embedded backends with 16 partitions', () => {
    const c = resolveConfig({});
    assert.deepEqual(c.cluster, { stream: 'PORTRAIT_EVENTS', partitions: 16, role: 'all', leaseTimeoutMs: 10000, readCacheMiB: 32, rebuildWaitMs: 60000 }, 'no database or NATS URL by default; role all');
  });

  it('reads PORTRAIT_DATABASE_URL, PORTRAIT_NATS_URL, PORTRAIT_PARTITIONS, PORTRAIT_WORKER_ID, the lease and rebuild waits and the read cache size', () => {
    const c = loadConfig({
      cwd: '/nonexistent',
      env: {
        PORTRAIT_DATABASE_URL: 'postgres://u@db/portrait',
        PORTRAIT_NATS_URL: 'nats://mq:4222',
        PORTRAIT_PARTITIONS: '32',
        PORTRAIT_WORKER_ID: 'w-1',
        PORTRAIT_ROLE: 'worker',
        PORTRAIT_LEASE_TIMEOUT_MS: '3000',
        PORTRAIT_REBUILD_WAIT_MS: '20000',
        PORTRAIT_READ_CACHE_MIB: '0',
      },
    });
    assert.deepEqual(
      c.cluster,
      { databaseUrl: 'postgres://u@db/portrait', natsUrl: 'nats://mq:4222', partitions: 32, workerId: 'w-1', stream: 'PORTRAIT_EVENTS', role: 'worker', leaseTimeoutMs: 3000, readCacheMiB: 0, rebuildWaitMs: 20000 },
      'every variable lands in cluster',
    );
  });

  it('refuses a partition count that is not a positive integer, naming the setting', () => {
    for (const bad of ['0', 'many', '2.5']) {
      assert.throws(
        () => loadConfig({ cwd: '/nonexistent', env: { PORTRAIT_PARTITIONS: bad } }),
        (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_CONFIG_INVALID' && e.problems.some((p) => p.path === '/cluster/partitions'),
        `PORTRAIT_PARTITIONS=${bad} is refused`,
      );
    }
    assert.throws(
      () => loadConfig({ cwd: '/nonexistent', env: { PORTRAIT_ROLE: 'reader' } }),
      (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_CONFIG_INVALID' && e.problems.some((p) => p.path.startsWith('/cluster/role')),
      'an unknown role is refused, naming the setting',
    );
    assert.throws(
      () => loadConfig({ cwd: '/nonexistent', env: { PORTRAIT_READ_CACHE_MIB: '-1' } }),
      (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_CONFIG_INVALID' && e.problems.some((p) => p.path === '/cluster/readCacheMiB'),
      'a negative read cache is refused, naming the setting',
    );
    assert.throws(() => resolveConfig({ cluster: { stream: 'bad name' } }), (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_CONFIG_INVALID', 'a stream name with a space is refused');
  });
});
