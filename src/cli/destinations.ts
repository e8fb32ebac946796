/** `portrait destinations list|create|deliveries|replay`: webhook destinations and their delivery log. */
import { Option, type Command } from 'commander';
import { openFromCli } from './open.ts';

const list = (s: string | undefined) => (s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean));

export function destinationsCommand(program: Command): void {
  const d = program.command('destinations').description('webhook destinations: list, create, delivery log, replay of dead letters');
  d.command('list')
    .description('print the destinations: id, enabled, kinds, segments, tags, url, source (tab-separated; * for no filter)')
    .option('-w, --workspace <name>', 'workspace (default: defaultWorkspace)')
    .action(async (opts: { workspace?: string }, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        for (const x of await p.destinations.list(opts.workspace ?? p.config.defaultWorkspace)) {
          process.stdout.write(`${x.id}\t${x.enabled ? 'enabled' : 'paused'}\t${x.kinds.join(',')}\t${x.segments?.join(',') ?? '*'}\t${x.tags?.join(',') ?? '*'}\t${x.url}\t${x.source}\n`);
        }
      } finally {
        await p.close();
      }
    });
  d.command('create')
    .description('create a destination and print it as JSON, with its secret (not shown again)')
    .requiredOption('--url <url>', 'http(s) URL receiving a POST per notification')
    .requiredOption('--kinds <list>', 'comma-separated: segment.entered, segment.exited, tag.entered, tag.exited, profile.updated')
    .option('--id <id>', 'destination id (generated when absent)')
    .option('--segments <list>', 'only these segments (comma-separated): their segment events, and profile updates of their members')
    .option('--tags <list>', 'only tag events of these tags and the tags below them (comma-separated, e.g. value/high,interest/sports)')
    .option('--secret <secret>', 'signing secret, 16-256 characters (generated when absent)')
    .option('--disabled', 'create it paused')
    .option('-w, --workspace <name>', 'workspace (default: defaultWorkspace)')
    .action(async (opts: { url: string; kinds: string; id?: string; segments?: string; tags?: string; secret?: string; disabled?: boolean; workspace?: string }, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        const body = {
          url: opts.url,
          kinds: list(opts.kinds),
          ...(opts.id !== undefined ? { id: opts.id } : {}),
          ...(opts.segments !== undefined ? { segments: list(opts.segments) } : {}),
          ...(opts.tags !== undefined ? { tags: list(opts.tags) } : {}),
          ...(opts.secret !== undefined ? { secret: opts.secret } : {}),
          ...(opts.disabled ? { enabled: false } : {}),
        };
        process.stdout.write(`${JSON.stringify(await p.destinations.create(opts.workspace ?? p.config.defaultWorkspace, body))}\n`);
      } finally {
        await p.close();
      }
    });
  d.command('deliveries')
    .description("print a destination's deliveries as NDJSON, oldest first")
    .argument('<id>', 'destination id')
    .addOption(new Option('--status <status>', 'only this state').choices(['pending', 'delivered', 'dead']))
    .option('--limit <n>', 'most rows', '100')
    .option('--after <seq>', 'paging cursor (the seq of the last row printed)')
    .option('-w, --workspace <name>', 'workspace (default: defaultWorkspace)')
    .action(async (id: string, opts: { status?: 'pending' | 'delivered' | 'dead'; limit: string; after?: string; workspace?: string }, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        const page = await p.destinations.deliveries(opts.workspace ?? p.config.defaultWorkspace, id, {
          status: opts.status,
          limit: Number(opts.limit),
          after: opts.after === undefined ? undefined : Number(opts.after),
        });
        for (const x of page.items) {
          const { body: _body, ...row } = x;
          process.stdout.write(`${JSON.stringify(row)}\n`);
        }
      } finally {
        await p.close();
      }
    });
  d.command('replay')
    .description('re-queue dead letters of a destination (one, or all) with a fresh attempt budget; a running server sends them')
    .argument('<id>', 'destination id')
    .argument('[deliveryId]', 'one dead delivery (default: all open dead letters)')
    .option('-w, --workspace <name>', 'workspace (default: defaultWorkspace)')
    .action(async (id: string, deliveryId: string | undefined, opts: { workspace?: string }, cmd: Command) => {
      const p = await openFromCli(cmd);
      try {
        const { replayed } = await p.destinations.replay(opts.workspace ?? p.config.defaultWorkspace, id, deliveryId);
        process.stdout.write(`replayed ${replayed.length}${replayed.length > 0 ? `: ${replayed.join(' ')}` : ''}\n`);
      } finally {
        await p.close();
      }
    });
}
