/** `portrait migrate`: applies the state schema's pending migrations (or, with --status, lists them). */
import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { migrateStorage, type MigrationReport } from '../storage/index.ts';
import type { GlobalOptions } from './open.ts';

export function formatMigrationReport(r: MigrationReport, statusOnly: boolean): string {
  const lines = [`${r.backend} ${r.location}: schema version ${r.before.current}`];
  for (const a of r.before.applied) lines.push(`  applied  ${a.version} ${a.name}${a.appliedAt > 0 ? ` (${new Date(a.appliedAt).toISOString()})` : ' (before migrations were recorded)'}`);
  if (statusOnly) {
    for (const m of r.before.pending) lines.push(`  pending  ${m.version} ${m.name}`);
    if (r.before.pending.length === 0) lines.push('up to date');
    else lines.push(`${r.before.pending.length} pending: run \`portrait migrate\` to apply`);
  } else {
    for (const m of r.applied) lines.push(`  applying ${m.version} ${m.name} … done`);
    lines.push(r.applied.length === 0 ? 'up to date, nothing to apply' : `now at schema version ${r.applied[r.applied.length - 1]!.version}`);
  }
  return `${lines.join('\n')}\n`;
}

export function migrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending state schema migrations (SQLite, or PostgreSQL when PORTRAIT_DATABASE_URL is set)')
    .option('--status', 'list applied and pending migrations without applying any')
    .action(async (opts: { status?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const config = loadConfig({ file: g.config, overrides: g.dataDir ? { dataDir: g.dataDir } : {} });
      const report = await migrateStorage({ dataDir: config.dataDir, databaseUrl: config.cluster.databaseUrl }, !opts.status);
      process.stdout.write(formatMigrationReport(report, opts.status === true));
    });
}
