/** `portrait serve`: the HTTP server on the embedded default (SQLite under the data directory). */
import type { Command } from 'commander';
import { SCOPES } from '../portrait/keys.ts';
import { buildServer } from '../server/app.ts';
import { openFromCli } from './open.ts';

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP API (Segment-compatible ingest, profiles)')
    .option('-p, --port <port>', 'port (default 8080, or PORT)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1, or PORTRAIT_HOST)')
    .action(async (opts: { port?: string; host?: string }, cmd: Command) => {
      const server: Record<string, unknown> = {};
      if (opts.port !== undefined) server.port = Number(opts.port);
      if (opts.host !== undefined) server.host = opts.host;
      const p = await openFromCli(cmd, { server });
      const s = p.config.server;
      // First start: a development write key and secret key for the default workspace, printed once.
      if ((await p.keys.list()).length === 0) {
        const write = await p.keys.create(p.config.defaultWorkspace, ['write'], 'development write key');
        const secret = await p.keys.create(p.config.defaultWorkspace, [...SCOPES], 'development secret key');
        process.stderr.write(
          `Created workspace "${p.config.defaultWorkspace}" with two keys (shown once, store them now):\n  write key:  ${write.key}\n  secret key: ${secret.key}\n`,
        );
      }
      const app = buildServer(p, { logger: true, maxMessageBytes: s.maxMessageKB * 1024, maxBatchBytes: s.maxBatchKB * 1024, maxLag: s.maxLag });
      const address = await app.listen({ port: s.port, host: s.host });
      process.stderr.write(`Portrait listening on ${address} (data in ${p.config.dataDir})\n`);
      const stop = async () => {
        await app.close();
        await p.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
}
