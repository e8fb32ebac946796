/** `portrait rebuild`: recompute all state from the event log, with a progress bar. */
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { openFromCli } from './open.ts';

export function rebuildCommand(program: Command): void {
  program
    .command('rebuild')
    .description('recompute every profile, identity and trait from the event log')
    .option('--no-progress', 'do not draw a progress bar')
    .action(async (opts: { progress: boolean }, cmd: Command) => {
      const p = await openFromCli(cmd);
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
      } finally {
        if (begun) bar.stop();
      }
      const { engine } = p.positions();
      const seconds = (Date.now() - started) / 1000;
      process.stdout.write(`rebuilt ${engine} records into ${await p.profileCount()} profiles in ${seconds.toFixed(1)} s\n`);
      await p.close();
    });
}
