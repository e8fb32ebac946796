/** `portrait export-segment <name>`: a segment's members as CSV or NDJSON, streamed to stdout or a file. */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { Option, type Command } from 'commander';
import { parseFields } from '../destinations/index.ts';
import { openFromCli } from './open.ts';

export function exportSegmentCommand(program: Command): void {
  program
    .command('export-segment')
    .description("write a segment's members (profile id, identifiers, member since, chosen attributes and traits.<name> values)")
    .argument('<name>', 'segment name')
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'ndjson']).default('csv'))
    .option('--fields <list>', 'comma-separated attribute names and traits.<name> to add as columns')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('-w, --workspace <name>', 'workspace (default: defaultWorkspace)')
    .action(async (name: string, opts: { format: 'csv' | 'ndjson'; fields?: string; output?: string; workspace?: string }, cmd: Command) => {
      const fields = parseFields(opts.fields);
      const p = await openFromCli(cmd);
      const out = opts.output === undefined ? process.stdout : createWriteStream(opts.output);
      try {
        for await (const chunk of await p.exportSegment(name, { workspace: opts.workspace, format: opts.format, fields })) {
          if (!out.write(chunk)) await once(out, 'drain');
        }
      } finally {
        if (out !== process.stdout) await new Promise<void>((r) => out.end(r));
        await p.close();
      }
    });
}
