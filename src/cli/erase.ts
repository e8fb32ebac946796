/** `portrait erase <idType> <id>`: erase a person, wait for it, print the ledger entry. */
import type { Command } from 'commander';
import { openFromCli } from './open.ts';

export function eraseCommand(program: Command): void {
  program
    .command('erase')
    .description('erase the person holding an identifier (user_id, anonymous_id, email, profile_id, external:<type>): profile, events, history, memberships; their identifiers are suppressed')
    .argument('<idType>', 'identifier type')
    .argument('<id>', 'identifier value')
    .option('-w, --workspace <name>', 'workspace')
    .option('--compact', 'then checkpoint and vacuum the databases, so no copy of the erased rows stays in the files')
    .action(async (idType: string, id: string, opts: { workspace?: string; compact?: boolean }, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        // Events already accepted belong to the person too: let the engine see them first.
        await p.drain();
        const pending = await p.privacy.erase(idType, id, { workspace: opts.workspace });
        const done = await p.privacy.waitFor(pending.id, { workspace: opts.workspace });
        if (opts.compact) await p.privacy.compact();
        process.stdout.write(`${JSON.stringify(done, null, 2)}\n`);
      } finally {
        await p.close();
      }
    });
}
