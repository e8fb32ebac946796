/** `portrait quarantine list|retry`: see the messages kept as invalid, and re-submit them. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Errors } from '../core/errors.ts';
import { openFromCli } from './open.ts';

export function quarantineCommand(program: Command): void {
  const q = program.command('quarantine').description('list and re-submit quarantined (invalid) messages');
  q.command('list')
    .description('print open quarantined messages as NDJSON: id, received time, reasons, raw message')
    .option('-w, --workspace <name>', 'workspace')
    .option('--limit <n>', 'most rows', '100')
    .option('--resubmitted', 'list the ones already re-submitted instead')
    .action(async (opts: { workspace?: string; limit: string; resubmitted?: boolean }, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        const rows = await p.quarantined({ workspace: opts.workspace, limit: Number(opts.limit), status: opts.resubmitted ? 'resubmitted' : 'open' });
        for (const r of rows) process.stdout.write(`${JSON.stringify({ id: r.id, receivedAt: new Date(r.receivedAt).toISOString(), reason: r.reason, raw: r.raw })}\n`);
      } finally {
        await p.close();
      }
    });
  q.command('retry')
    .description('re-submit a quarantined message, as it was or replaced by a fixed one')
    .argument('<id>', 'quarantine id (from "quarantine list")')
    .option('-f, --fixed <file>', 'a JSON file holding the fixed message')
    .option('-w, --workspace <name>', 'workspace')
    .action(async (id: string, opts: { fixed?: string; workspace?: string }, cmd: Command) => {
      let fixed: unknown;
      if (opts.fixed !== undefined) {
        try {
          fixed = JSON.parse(readFileSync(opts.fixed, 'utf8'));
        } catch (e) {
          throw Errors.notJson(`${opts.fixed}: ${(e as Error).message}`);
        }
      }
      const p = await openFromCli(cmd);
      try {
        const outcome = await p.resubmit(Number(id), { workspace: opts.workspace, fixed });
        process.stdout.write(`${JSON.stringify(outcome)}\n`);
        if (outcome.status === 'quarantined') process.exitCode = 1;
      } finally {
        await p.close();
      }
    });
}
