/**
 * `portrait demo` (`npm run demo`): loads a generated sample of users and
 * events, with ten computed traits, so a newcomer sees profiles at once.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { CONFIG_FILES } from '../config/index.ts';
import { TEN_TRAITS, workload } from '../demo/workload.ts';
import { openFromCli } from './open.ts';

export function demoCommand(program: Command): void {
  program
    .command('demo')
    .description('load a generated sample (users browsing, identifying, buying) with ten computed traits')
    .option('--events <n>', 'how many events', '20000')
    .option('--users <n>', 'how many users', '2000')
    .action(async (opts: { events: string; users: string }, cmd: Command) => {
      const events = Number(opts.events);
      const users = Number(opts.users);
      // The sample's traits live in the config file, so `npm start` keeps them.
      const hasConfig = CONFIG_FILES.some((f) => existsSync(resolve(f))) || cmd.optsWithGlobals<{ config?: string }>().config !== undefined;
      if (!hasConfig) {
        writeFileSync(resolve('portrait.config.json'), `${JSON.stringify({ traits: TEN_TRAITS }, null, 2)}\n`);
        process.stderr.write('Wrote portrait.config.json with ten sample computed traits.\n');
      }
      const p = await openFromCli(cmd, hasConfig ? {} : { traits: [...TEN_TRAITS] });
      const bar = process.stderr.isTTY ? new SingleBar({ format: 'demo [{bar}] {value}/{total} events', hideCursor: true }, Presets.shades_classic) : undefined;
      bar?.start(events, 0);
      let batch: unknown[] = [];
      let sent = 0;
      // Someone of the sample to look at: the first person who identifies with an email.
      let sample: { userId: string; email: string } | undefined;
      for (const m of workload({ events, users, seed: 2026, start: Date.now() - 30 * 86_400_000 })) {
        const traits = m.traits as { email?: unknown } | undefined;
        if (sample === undefined && m.type === 'identify' && typeof m.userId === 'string' && typeof traits?.email === 'string') sample = { userId: m.userId, email: traits.email };
        batch.push(m);
        if (batch.length === 1000) {
          await p.ingest(batch);
          sent += batch.length;
          batch = [];
          bar?.update(sent);
        }
      }
      await p.ingest(batch);
      bar?.update(events);
      bar?.stop();
      await p.drain();
      const who = sample ?? { userId: 'u1', email: 'user1@example.com' };
      process.stdout.write(
        `Loaded ${events} events into ${await p.profileCount()} profiles in ${p.config.dataDir}.\n` +
          `Try:  npx portrait profile user_id ${who.userId}\n      npx portrait profile email ${who.email}\n` +
          `      npm start   (then GET /v1/profiles/user_id/${who.userId} with the secret key it prints)\n`,
      );
      await p.close();
    });
}
