/** Opens the embedded Portrait the CLI's global options point at. */
import type { Command } from 'commander';
import { loadConfigInput, type ConfigInput } from '../config/index.ts';
import { Portrait } from '../portrait/portrait.ts';

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
}

export async function openFromCli(cmd: Command, overrides: ConfigInput = {}): Promise<Portrait> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const { input, source } = loadConfigInput({ file: g.config, overrides: g.dataDir ? { dataDir: g.dataDir } : {} });
  const server = { ...input.server, ...overrides.server };
  const cluster = { ...input.cluster, ...overrides.cluster };
  return Portrait.open({ ...input, ...overrides, server, cluster }, { source });
}
