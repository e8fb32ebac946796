/** `portrait audit`: the audit trail of a workspace as NDJSON, newest first. */
import type { Command } from 'commander';
import { openFromCli } from './open.ts';

export function auditCommand(program: Command): void {
  program
    .command('audit')
    .description('print the audit trail (reads of personal data, admin and privacy actions) as NDJSON, newest first')
    .option('-w, --workspace <name>', 'workspace (default: the default workspace)')
    .option('--key <id>', 'only this key id')
    .option('--route <pattern>', 'only this route pattern, e.g. /v1/profiles/:idType/:id')
    .option('--from <time>', 'only records at or after this time (ISO 8601 or epoch ms)')
    .option('--to <time>', 'only records at or before this time (ISO 8601 or epoch ms)')
    .option('--limit <n>', 'most records', '100')
    .action(async (opts: { workspace?: string; key?: string; route?: string; from?: string; to?: string; limit: string }, cmd: Command) => {
      const time = (name: string, v: string | undefined) => {
        if (v === undefined) return undefined;
        const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
        if (!Number.isFinite(t)) throw new Error(`--${name} must be an ISO 8601 time or epoch milliseconds, not "${v}"`);
        return t;
      };
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new Error('--limit must be a positive integer');
      const p = await openFromCli(cmd);
      try {
        const page = await p.audit.list({
          workspace: opts.workspace ?? p.config.defaultWorkspace,
          keyId: opts.key,
          route: opts.route,
          from: time('from', opts.from),
          to: time('to', opts.to),
          limit,
        });
        for (const r of page.items) process.stdout.write(`${JSON.stringify(r)}\n`);
      } finally {
        await p.close();
      }
    });
}
