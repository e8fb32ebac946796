/** Opens the embedded Portrait the CLI's global options point at. */
import type { Command } from 'commander';
import { loadConfigInput } from '../config/index.ts';
import { Portrait } from '../portrait/portrait.ts';

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
}

export async function openFromCli(cmd: Command): Promise<Portrait> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const { input, source } = loadConfigInput({ file: g.config, overrides: g.dataDir ? { dataDir: g.dataDir } : {} });
  return Portrait.open(input, { source });
}
