/** `portrait profile <idType> <id>`: print a profile as JSON. */
import type { Command } from 'commander';
import { Errors } from '../core/errors.ts';
import { openFromCli } from './open.ts';

export function profileCommand(program: Command): void {
  program
    .command('profile')
    .description('print the profile holding an identifier (user_id, anonymous_id, email, profile_id, external:<type>)')
    .argument('<idType>', 'identifier type')
    .argument('<id>', 'identifier value')
    .option('-w, --workspace <name>', 'workspace', undefined)
    .option('--at <time>', 'the profile as of this time (ISO 8601)')
    .action(async (idType: string, id: string, opts: { workspace?: string; at?: string }, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        await p.drain();
        const at = opts.at === undefined ? undefined : Date.parse(opts.at);
        if (at !== undefined && Number.isNaN(at)) throw Errors.invalidConfig('--at', [{ path: '--at', message: 'must be an ISO 8601 time' }]);
        const view = await p.profile(idType, id, { workspace: opts.workspace, at });
        if (view === undefined) throw Errors.profileNotFound(idType, id);
        process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
      } finally {
        await p.close();
      }
    });
}
