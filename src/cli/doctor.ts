/** `portrait doctor [--json]`: checks the installation and says what to fix; exits 1 when a check fails. */
import type { Command } from 'commander';
import { runDoctor, type CheckResult } from '../doctor/index.ts';
import type { GlobalOptions } from './open.ts';

const LABEL = { ok: 'OK  ', warn: 'WARN', fail: 'FAIL' } as const;

export function formatResults(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  const lines = results.map((r) => `${LABEL[r.status]}  ${r.name.padEnd(width)}  ${r.message}${r.fix ? `\n      ${' '.repeat(width)}  → ${r.fix}` : ''}`);
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  lines.push('', failed > 0 ? `${failed} check(s) failed, ${warned} warning(s).` : warned > 0 ? `No failures, ${warned} warning(s).` : 'All checks passed.');
  return `${lines.join('\n')}\n`;
}

export function doctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check configuration, data files, keys, port and services; print what is wrong and how to fix it')
    .option('--json', 'print the results as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const results = await runDoctor({ configFile: g.config, dataDir: g.dataDir });
      const failed = results.some((r) => r.status === 'fail');
      process.stdout.write(opts.json ? `${JSON.stringify({ ok: !failed, checks: results }, null, 2)}\n` : formatResults(results));
      if (failed) process.exitCode = 1;
    });
}
