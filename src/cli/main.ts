/** The `portrait` command line. One file per command; this one wires them. */
import { Command } from 'commander';
import { isPortraitError } from '../core/errors.ts';
import { rebuildCommand } from './rebuild.ts';
import { retentionCommand } from './retention.ts';
import { profileCommand } from './profile.ts';
import { keysCommand } from './keys.ts';
import { importCommand } from './import.ts';
import { demoCommand } from './demo.ts';
import { quarantineCommand } from './quarantine.ts';
import { serveCommand } from './serve.ts';
import { destinationsCommand } from './destinations.ts';
import { exportSegmentCommand } from './export-segment.ts';
import { doctorCommand } from './doctor.ts';
import { migrateCommand } from './migrate.ts';
import { segmentsCommand, tagsCommand } from './segments.ts';
import { eraseCommand } from './erase.ts';
import { exportCommand } from './export.ts';
import { privacyCommand } from './privacy.ts';
import { auditCommand } from './audit.ts';

const program = new Command()
  .name('portrait')
  .description('Portrait: a real-time user profile engine')
  .option('-c, --config <file>', 'configuration file (default: portrait.config.json or .yaml in the current directory)')
  .option('-d, --data-dir <dir>', 'data directory (default ./data, or PORTRAIT_DATA_DIR)');

serveCommand(program);
rebuildCommand(program);
retentionCommand(program);
profileCommand(program);
keysCommand(program);
importCommand(program);
demoCommand(program);
quarantineCommand(program);
destinationsCommand(program);
exportSegmentCommand(program);
doctorCommand(program);
migrateCommand(program);
segmentsCommand(program);
tagsCommand(program);
eraseCommand(program);
exportCommand(program);
privacyCommand(program);
auditCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (isPortraitError(e)) {
    process.stderr.write(`error ${e.code}: ${e.message}\n`);
    process.exitCode = 1;
  } else throw e;
}
