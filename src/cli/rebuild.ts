/** `portrait rebuild`: recompute all state from the event log, with a progress bar. */
import { hostname } from 'node:os';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { openFromCli } from './open.ts';

export function rebuildCommand(program: Command): void {
  program
    .command('rebuild')
    .description('recompute every profile, identity and trait from the event log')
    .option('--no-progress', 'do not draw a progress bar')
    .option('--wait-ms <ms>', 'on a deployment: how long to wait for the other workers to give their partitions back (default cluster.rebuildWaitMs)')
    .action(async (opts: { progress: boolean; waitMs?: string }, cmd: Command) => {
      // On a deployment this process works as a worker of its own for the rebuild (even where the
      // configuration says role api), under a worker id no running worker shares. The wait is checked as the setting is.
      const cluster = { role: 'all' as const, workerId: `rebuild-${hostname()}-${process.pid}`, ...(opts.waitMs !== undefined && { rebuildWaitMs: Number(opts.waitMs) }) };
      const p = await openFromCli(cmd, { cluster });
      const started = Date.now();
      const bar = new SingleBar({ format: 'rebuild [{bar}] {percentage}% | {value}/{total} records | {eps} events/s | ETA {eta}s', hideCursor: true }, Presets.shades_classic);
      let begun = false;
      try {
        await p.rebuild(
          opts.progress && process.stderr.isTTY
            ? (done, total) => {
                if (!begun) bar.start(total, 0, { eps: 0 });
                begun = true;
                bar.update(done, { eps: Math.round(done / Math.max(0.001, (Date.now() - started) / 1000)) });
              }
            : undefined,
        );
        if (begun) bar.stop();
        begun = false;
        const { engine } = p.positions();
        const seconds = (Date.now() - started) / 1000;
        process.stdout.write(`rebuilt ${engine} records into ${await p.profileCount()} profiles in ${seconds.toFixed(1)} s\n`);
      } finally {
        if (begun) bar.stop();
        // Also after a failed rebuild (PORTRAIT_REBUILD_BLOCKED): the open connections would keep the process alive.
        await p.close();
      }
    });
}
