/** `portrait retention run [--dry-run]`: one retention pass now (what the scheduler does every privacy.retention.intervalMinutes). */
import type { Command } from 'commander';
import { openFromCli } from './open.ts';

export function retentionCommand(program: Command): void {
  const r = program.command('retention').description('purge events and inactive profiles past the retention rules (privacy.retention)');
  r.command('run')
    .description('run one retention pass now and print what it purged as JSON')
    .option('--dry-run', 'count what would be purged; change nothing')
    .action(async (opts: { dryRun?: boolean }, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        // Purges only cover what the engine has folded: let it catch up first.
        await p.drain();
        const report = await p.runRetention({ dryRun: opts.dryRun === true });
        process.stdout.write(`${JSON.stringify(report)}\n`);
      } finally {
        await p.close();
      }
    });
}
