/**
 * `portrait serve [--role api|worker|all]`: the HTTP server and/or the engine.
 * `all` (default) is one process doing both, on the embedded default (SQLite
 * under the data directory) or on PostgreSQL and NATS. On PostgreSQL and NATS
 * a deployment can split them: `api` nodes serve HTTP (ingest appends to the
 * log, reads come from PostgreSQL) and run no engine; `worker` nodes lease
 * partitions and run their engines, with no HTTP.
 */
import type { Command } from 'commander';
import { SCOPES } from '../portrait/keys.ts';
import type { PortraitConfig } from '../config/index.ts';
import { Errors } from '../core/errors.ts';
import { buildServer } from '../server/app.ts';
import { openFromCli } from './open.ts';

type Role = PortraitConfig['cluster']['role'];
const ROLES: readonly Role[] = ['all', 'api', 'worker'];

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP API (Segment-compatible ingest, profiles) and/or the engine (--role)')
    .option('-p, --port <port>', 'port (default 8080, or PORT)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1, or PORTRAIT_HOST)')
    .option('--role <role>', 'api (HTTP only), worker (partition engines only) or all (default, or PORTRAIT_ROLE)')
    .action(async (opts: { port?: string; host?: string; role?: string }, cmd: Command) => {
      const server: Record<string, unknown> = {};
      if (opts.port !== undefined) server.port = Number(opts.port);
      if (opts.host !== undefined) server.host = opts.host;
      if (opts.role !== undefined && !ROLES.includes(opts.role as Role))
        throw Errors.invalidConfig('--role', [{ path: '/cluster/role', message: `must be one of ${ROLES.join(', ')}, got '${opts.role}'` }]);
      const p = await openFromCli(cmd, { server, ...(opts.role !== undefined ? { cluster: { role: opts.role as Role } } : {}) });
      const role = p.config.cluster.role;
      let close = async () => {};
      if (role === 'worker') {
        const held = p.cluster?.partitionsHeld() ?? [];
        process.stderr.write(`Portrait worker ${p.cluster?.workerId} running (partitions held now: ${held.length > 0 ? held.join(', ') : 'none yet'})\n`);
      } else {
        // First start: a development write key and secret key for the default workspace, printed once.
        if ((await p.keys.list()).length === 0) {
          const write = await p.keys.create(p.config.defaultWorkspace, ['write'], 'development write key');
          const secret = await p.keys.create(p.config.defaultWorkspace, [...SCOPES], 'development secret key');
          process.stderr.write(
            `Created workspace "${p.config.defaultWorkspace}" with two keys (shown once, store them now):\n  write key:  ${write.key}\n  secret key: ${secret.key}\n`,
          );
        }
        const s = p.config.server;
        const app = buildServer(p, { logger: true, maxMessageBytes: s.maxMessageKB * 1024, maxBatchBytes: s.maxBatchKB * 1024, maxLag: s.maxLag });
        const address = await app.listen({ port: s.port, host: s.host });
        process.stderr.write(`Portrait ${role === 'api' ? 'API node ' : ''}listening on ${address} (${p.config.cluster.databaseUrl ? 'state in PostgreSQL' : `data in ${p.config.dataDir}`})\n`);
        close = () => app.close();
      }
      const stop = async () => {
        await close();
        await p.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
}
