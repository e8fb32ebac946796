/** `portrait export <idType> <id>`: everything held on a person, as JSON (right of access). */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openFromCli } from './open.ts';

export function exportCommand(program: Command): void {
  program
    .command('export')
    .description('print everything held on the person holding an identifier (profile, events, merges, links, history, segments, tags) as JSON')
    .argument('<idType>', 'identifier type (user_id, anonymous_id, email, profile_id, external:<type>)')
    .argument('<id>', 'identifier value')
    .option('-w, --workspace <name>', 'workspace')
    .option('-o, --out <file>', 'write the JSON to this file (mode 0600) instead of stdout')
    .action(async (idType: string, id: string, opts: { workspace?: string; out?: string }, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        await p.drain();
        const json = `${JSON.stringify(await p.privacy.export(idType, id, { workspace: opts.workspace }), null, 2)}\n`;
        if (opts.out !== undefined) writeFileSync(opts.out, json, { mode: 0o600 });
        else process.stdout.write(json);
      } finally {
        await p.close();
      }
    });
}
