/**
 * The real services some tests use: PostgreSQL (127.0.0.1:5432, trust auth,
 * user postgres, database `test`) and NATS JetStream (127.0.0.1:4222).
 * `serviceSkip` says why a suite skips when a service is unreachable, and
 * throws instead when PORTRAIT_REQUIRE_SERVICES=1 (CI), so there they fail.
 */
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import pg from 'pg';
import { NatsEventLog } from '../../src/log/nats/nats-event-log.ts';

export const PG_ADMIN_URL = process.env.PORTRAIT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const NATS_URL = process.env.PORTRAIT_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** `false` when the service answers; else the reason to skip (or a thrown error when services are required). */
export async function serviceSkip(name: 'PostgreSQL' | 'NATS'): Promise<string | false> {
  const url = new URL(name === 'PostgreSQL' ? PG_ADMIN_URL : NATS_URL);
  const port = Number(url.port || (name === 'PostgreSQL' ? 5432 : 4222));
  if (await reachable(url.hostname, port)) return false;
  const reason = `${name} is not reachable at ${url.hostname}:${port}: skipped (set PORTRAIT_REQUIRE_SERVICES=1 to fail instead)`;
  if (process.env.PORTRAIT_REQUIRE_SERVICES === '1') throw new Error(`${name} is required (PORTRAIT_REQUIRE_SERVICES=1) but not reachable at ${url.hostname}:${port}`);
  return reason;
}

let admin: string | undefined;

/** The database to create test databases from: `test`, or the always-present `postgres` when `test` does not exist. */
async function adminDatabaseUrl(): Promise<string> {
  if (admin) return admin;
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await c.connect();
    admin = PG_ADMIN_URL;
  } catch (e) {
    if ((e as { code?: string }).code !== '3D000') throw e; // 3D000: no such database
    const url = new URL(PG_ADMIN_URL);
    url.pathname = '/postgres';
    admin = url.toString();
  } finally {
    await c.end().catch(() => {});
  }
  return admin;
}

/** A fresh database `portrait_test_<random>` and a function that drops it. */
export async function tempDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `portrait_test_${randomBytes(6).toString('hex')}`;
  const adminUrl = await adminDatabaseUrl();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    // The name is generated from hex digits: safe to splice (CREATE DATABASE takes no parameters).
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A stream and subject prefix of its own, so parallel runs never meet; deleted afterwards. */
export async function tempNatsLog(partitions = 4): Promise<{ log: NatsEventLog; dispose: () => Promise<void> }> {
  const id = randomBytes(6).toString('hex');
  const opts = { servers: NATS_URL, stream: `PORTRAIT_TEST_${id}`, subjectPrefix: `portrait.test.${id}`, partitions };
  const log = await NatsEventLog.open(opts);
  return {
    log,
    dispose: async () => {
      const admin = await NatsEventLog.open(opts);
      await admin.destroy();
    },
  };
}
