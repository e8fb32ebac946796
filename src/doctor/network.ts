/**
 * Checks over the network: whether the HTTP port is free (or Portrait
 * already answers there), and whether PostgreSQL and NATS JetStream answer
 * at the addresses the environment names.
 */
import { get } from 'node:http';
import { createServer } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { fail, ok, reason, type CheckResult } from './check.ts';
import { redact } from '../core/redact.ts';

const TIMEOUT_MS = 3000;

function tryListen(port: number, host: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((done) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => done(e));
    s.listen({ port, host, exclusive: true }, () => s.close(() => done(undefined)));
  });
}

/** Whether Portrait's /healthz answers at host:port. */
function portraitAnswers(host: string, port: number): Promise<boolean> {
  const hostname = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return new Promise((done) => {
    // node:http rather than fetch: its timeout keeps the process alive while waiting on a silent peer.
    const req = get({ hostname, port, path: '/healthz', timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.slice(0, 1000)));
      res.on('end', () => {
        req.destroy();
        try {
          done(res.statusCode === 200 && (JSON.parse(body) as { ok?: unknown }).ok === true);
        } catch {
          done(false);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => {
      // A peer that is not HTTP leaves the socket half-open: close it, or it holds the peer's server open.
      req.destroy();
      done(false);
    });
  });
}

/** The HTTP port: free, or held by a running Portrait, or taken by something else. */
export async function checkPort(host: string, port: number): Promise<CheckResult> {
  const name = 'http port';
  const where = `${host}:${port}`;
  const e = await tryListen(port, host);
  if (e === undefined) return ok(name, `${where} is free`);
  if (e.code === 'EADDRINUSE') {
    if (await portraitAnswers(host, port)) return ok(name, `Portrait is already listening on ${where}`);
    return fail(name, `${where} is taken by another program`, 'Stop that program, or choose another port with --port or PORT (config server.port).');
  }
  if (e.code === 'EACCES') return fail(name, `no permission to listen on ${where}`, 'Use a port above 1023, or run with the needed privilege.');
  if (e.code === 'EADDRNOTAVAIL') return fail(name, `${host} is not an address of this machine`, 'Set server.host (PORTRAIT_HOST, --host) to 127.0.0.1, 0.0.0.0 or an address of this machine.');
  return fail(name, `cannot listen on ${where}: ${reason(e)}`, 'Check server.host and server.port.');
}


/** PostgreSQL answers a query at the URL. */
export async function checkPostgres(url: string): Promise<CheckResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: TIMEOUT_MS, query_timeout: TIMEOUT_MS });
  try {
    await client.connect();
    const v = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version;
    return ok('postgresql', `${redact(url)} answers (PostgreSQL ${v ?? 'unknown version'})`);
  } catch (e) {
    return fail('postgresql', `${redact(url)} does not answer: ${reason(e)}`, 'Check that PostgreSQL runs and PORTRAIT_DATABASE_URL has the right host, port, user, password and database.');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** NATS answers at the URL, with JetStream enabled. */
export async function checkNats(url: string): Promise<CheckResult> {
  let nc: Awaited<ReturnType<typeof connect>> | undefined;
  try {
    nc = await connect({ servers: url, timeout: TIMEOUT_MS, reconnect: false });
  } catch (e) {
    return fail('nats', `${redact(url)} does not answer: ${reason(e)}`, 'Check that nats-server runs and PORTRAIT_NATS_URL points at it.');
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: TIMEOUT_MS });
    const info = await jsm.getAccountInfo();
    return ok('nats', `${redact(url)} answers with JetStream (${info.streams} streams)`);
  } catch (e) {
    return fail('nats', `${redact(url)} answers but JetStream is not available: ${reason(e)}`, 'Start nats-server with JetStream enabled (nats-server -js).');
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export { redact };
