/**
 * `portrait segments list|create|delete|explain|members|sizes` and
 * `portrait tags tree|list|create|delete|set|unset|members`: definitions
 * made here are kept across restarts (the config file's own follow the file).
 */
import type { Command } from 'commander';
import type { DefinitionKind } from '../segments/index.ts';
import type { Portrait } from '../portrait/portrait.ts';
import { openFromCli } from './open.ts';

const out = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

async function withPortrait(cmd: Command, f: (p: Portrait) => Promise<void>): Promise<void> {
  const p = await openFromCli(cmd);
  try {
    await p.drain();
    await f(p);
  } finally {
    await p.close();
  }
}

/** The definition commands segments and tags share. */
function definitionCommands(group: Command, kind: DefinitionKind): void {
  group
    .command('list')
    .description(`print the ${kind} definitions with status, progress and size`)
    .option('-w, --workspace <name>', 'workspace')
    .action(async (opts: { workspace?: string }, cmd: Command) => {
      await withPortrait(cmd, async (p) => {
        for (const d of await p.segments.list(kind, opts)) process.stdout.write(`${d.name}\t${d.status}${d.status === 'backfilling' ? ` ${Math.round(d.progress * 100)}%` : ''}\t${d.size}\t${d.condition ?? '(manual)'}\n`);
      });
    });
  group
    .command('create')
    .description(`create or replace a ${kind}; it is evaluated over every existing profile before this returns`)
    .argument('<name>', kind === 'tag' ? 'tag name, e.g. interest/sports/football' : 'segment name')
    .argument(kind === 'tag' ? '[condition]' : '<condition>', kind === 'tag' ? 'condition text (omit for a manual tag)' : 'condition text, e.g. "last_seen within 7 days and traits.orders_30d >= 3"')
    .option('--description <text>', 'description')
    .option('--purpose <purpose>', 'consent purpose it serves (privacy.purposes): a profile without that consent is never a member')
    .option('--check', 'only validate; save nothing')
    .action(async (name: string, condition: string | undefined, opts: { description?: string; purpose?: string; check?: boolean }, cmd: Command) => {
      const raw = {
        name,
        ...(condition !== undefined ? { condition } : {}),
        ...(opts.description !== undefined ? { description: opts.description } : {}),
        ...(opts.purpose !== undefined ? { purpose: opts.purpose } : {}),
      };
      await withPortrait(cmd, async (p) => {
        if (opts.check) return out({ valid: true, definition: await p.segments.validate(kind, raw) });
        const r = await p.segments.put(kind, raw);
        await p.drain();
        out({ created: r.created, ...(await p.segments.get(kind, name)) });
      });
    });
  group
    .command('delete')
    .description(`remove a ${kind}`)
    .argument('<name>', `${kind} name`)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withPortrait(cmd, (p) => p.segments.remove(kind, name));
    });
  group
    .command('explain')
    .description(`why a profile is in or out of a ${kind}: the condition tree with each input's value`)
    .argument('<name>', `${kind} name`)
    .argument('<idType>', 'user_id, anonymous_id, email, profile_id, external:<type>')
    .argument('<id>', 'identifier value')
    .option('-w, --workspace <name>', 'workspace')
    .action(async (name: string, idType: string, id: string, opts: { workspace?: string }, cmd: Command) => {
      await withPortrait(cmd, async (p) => out(await p.segments.explain(kind, name, idType, id, opts)));
    });
  group
    .command('members')
    .description(`print a ${kind}'s members, one profile id per line`)
    .argument('<name>', `${kind} name`)
    .option('-w, --workspace <name>', 'workspace')
    .option('--limit <n>', 'most members', '1000')
    .option('--after <profileId>', 'start after this profile id (paging)')
    .action(async (name: string, opts: { workspace?: string; limit: string; after?: string }, cmd: Command) => {
      await withPortrait(cmd, async (p) => {
        const page = kind === 'tag' ? await p.segments.tagMembers(name, { ...opts, limit: Number(opts.limit) }) : await p.segments.members(name, { ...opts, limit: Number(opts.limit) });
        for (const m of page.members) process.stdout.write(`${m.profileId}\t${m.since}\n`);
        if (page.next !== undefined) process.stderr.write(`more: --after ${page.next}\n`);
      });
    });
}

export function segmentsCommand(program: Command): void {
  const s = program.command('segments').description('segment definitions, members, sizes and explanations');
  definitionCommands(s, 'segment');
  s.command('sizes')
    .description("print a segment's size over time, newest first")
    .argument('<name>', 'segment name')
    .option('-w, --workspace <name>', 'workspace')
    .action(async (name: string, opts: { workspace?: string }, cmd: Command) => {
      await withPortrait(cmd, async (p) => {
        for (const z of await p.segments.sizes(name, opts)) process.stdout.write(`${z.at}\t${z.size}\n`);
      });
    });
}

export function tagsCommand(program: Command): void {
  const t = program.command('tags').description('the tag taxonomy: rule-driven and manual tags');
  definitionCommands(t, 'tag');
  t.command('tree')
    .description('print the taxonomy as a tree with member counts (own / subtree)')
    .option('-w, --workspace <name>', 'workspace')
    .action(async (opts: { workspace?: string }, cmd: Command) => {
      await withPortrait(cmd, async (p) => {
        const print = (nodes: Awaited<ReturnType<Portrait['segments']['tagTree']>>, depth: number): void => {
          for (const n of nodes) {
            process.stdout.write(`${'  '.repeat(depth)}${n.name}  ${n.count}/${n.total}${n.defined ? (n.manual ? '  (manual)' : '') : '  (group)'}\n`);
            print(n.children, depth + 1);
          }
        };
        print(await p.segments.tagTree(opts), 0);
      });
    });
  for (const [name, on] of [['set', true], ['unset', false]] as const) {
    t.command(name)
      .description(`${name} a manual tag on a profile`)
      .argument('<tag>', 'tag name')
      .argument('<idType>', 'user_id, anonymous_id, email, profile_id, group_id, external:<type>')
      .argument('<id>', 'identifier value')
      .option('-w, --workspace <name>', 'workspace')
      .action(async (tag: string, idType: string, id: string, opts: { workspace?: string }, cmd: Command) => {
        await withPortrait(cmd, async (p) => {
          const r = await p.segments.tag(tag, idType, id, on, opts);
          // The decision goes through the event log: the command returns once the engine has folded it.
          await p.drain();
          out(r);
        });
      });
  }
}
