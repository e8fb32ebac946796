/** `portrait keys create|list|revoke`: API keys per workspace. */
import type { Command } from 'commander';
import { SCOPES } from '../portrait/keys.ts';
import { openFromCli } from './open.ts';

export function keysCommand(program: Command): void {
  const keys = program.command('keys').description('create, list and revoke API keys');
  keys
    .command('create')
    .description('create a key and print it alone on stdout (it is not shown again)')
    .requiredOption('-w, --workspace <name>', 'workspace the key belongs to')
    .requiredOption('-s, --scopes <list>', `comma-separated scopes: ${SCOPES.join(', ')}`)
    .option('-l, --label <text>', 'a note to recognise the key by', '')
    .action(async (opts: { workspace: string; scopes: string; label: string }, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        const { key } = await p.keys.create(opts.workspace, opts.scopes.split(',').map((s) => s.trim()).filter(Boolean), opts.label);
        process.stdout.write(`${key}\n`);
      } finally {
        await p.close();
      }
    });
  keys
    .command('list')
    .description('list keys (ids, workspaces, scopes; never the secrets)')
    .option('-w, --workspace <name>', 'only this workspace')
    .action(async (opts: { workspace?: string }, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        for (const k of await p.keys.list(opts.workspace)) {
          process.stdout.write(`${k.id}\t${k.workspace}\t${k.scopes.join(',')}\t${k.revokedAt === null ? 'active' : `revoked ${k.revokedAt}`}\t${k.label}\n`);
        }
      } finally {
        await p.close();
      }
    });
  keys
    .command('revoke')
    .description('revoke a key by id')
    .argument('<id>', 'key id (the part before the dot)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        await p.keys.revoke(id);
        process.stdout.write(`revoked ${id}\n`);
      } finally {
        await p.close();
      }
    });
}
