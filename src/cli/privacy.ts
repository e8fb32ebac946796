/** `portrait privacy rotate-key|reseal|retire-key|key-usage`: master key rotation without downtime. */
import type { Command } from 'commander';
import { loadConfig, type ResolvedConfig } from '../config/index.ts';
import { keyUsage, reseal, retireKey, rotateKey } from '../privacy/index.ts';
import type { GlobalOptions } from './open.ts';

function config(cmd: Command): ResolvedConfig {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  return loadConfig({ file: g.config, overrides: g.dataDir ? { dataDir: g.dataDir } : {} });
}

export function privacyCommand(program: Command): void {
  const privacy = program.command('privacy').description('master keys: rotate, re-seal stored personal data, retire old keys');
  privacy
    .command('rotate-key')
    .description('add a fresh master key to the key file and make it active (running servers keep opening older values)')
    .option('--id <id>', 'id of the new key (default: the next free k<n>)')
    .action(async (opts: { id?: string }, cmd: Command) => {
      const r = await rotateKey(config(cmd), opts.id);
      process.stdout.write(`active key ${r.id} (keys: ${r.keys.join(', ')}) in ${r.file}\nrestart running processes to seal with it, then run \`portrait privacy reseal\`\n`);
    });
  privacy
    .command('reseal')
    .description('re-seal stored personal values and per-person data keys still under older keys, in batches; safe while the server runs')
    .option('--batch <n>', 'rows per transaction', '500')
    .action(async (opts: { batch: string }, cmd: Command) => {
      const batch = Number(opts.batch);
      if (!Number.isInteger(batch) || batch < 1) throw new Error('--batch must be a positive integer');
      const r = await reseal(config(cmd), batch);
      const raced = r.raced + r.dataKeys.raced;
      process.stdout.write(`re-sealed ${r.rewritten} row(s) of ${r.scanned} and ${r.dataKeys.rewritten} data key(s) of ${r.dataKeys.scanned} under key ${r.active}${raced > 0 ? `; ${raced} changed meanwhile: run again` : ''}\n`);
    });
  privacy
    .command('key-usage')
    .description('how many stored values (personal values and data keys) each master key seals')
    .action(async (_opts: unknown, cmd: Command) => {
      const uses = await keyUsage(config(cmd));
      if (uses.size === 0) process.stdout.write('no sealed values\n');
      for (const [id, n] of [...uses].sort()) process.stdout.write(`${id}\t${n}\n`);
    });
  privacy
    .command('retire-key')
    .description('remove a master key from the key file (refused while stored values use it)')
    .argument('<id>', 'key id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const r = await retireKey(config(cmd), id);
      process.stdout.write(`retired ${id}; keys left: ${r.keys.join(', ')} in ${r.file}\n`);
    });
}
