/**
 * `portrait doctor`: checks the configuration, Node.js, the data directory
 * and its SQLite files, the engine's lag, API keys, the HTTP port and the
 * external services, and says what is wrong and how to fix it. Read-only.
 */
import { isPortraitError } from '../core/errors.ts';
import { fromEnv, loadConfigInput, resolveConfig, serviceUrls, type ResolvedConfig } from '../config/index.ts';
import { fail, ok, reason, type CheckResult } from './check.ts';
import { checkDatabases, checkDataDir, checkDisk } from './files.ts';
import { checkNats, checkPort, checkPostgres } from './network.ts';

export type { CheckResult, CheckStatus } from './check.ts';

export interface DoctorOptions {
  /** Config file (--config); else PORTRAIT_CONFIG or the default names in `cwd`. */
  configFile?: string;
  /** --data-dir, overriding the configuration. */
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Loads and validates the configuration; falls back to the defaults (and the data dir given) so the other checks still run. */
function checkConfig(o: DoctorOptions, env: NodeJS.ProcessEnv): { result: CheckResult; config: ResolvedConfig } {
  const overrides = o.dataDir ? { dataDir: o.dataDir } : {};
  let source = 'the configuration';
  try {
    const loaded = loadConfigInput({ file: o.configFile, env, cwd: o.cwd, overrides });
    source = loaded.source;
    const config = resolveConfig(loaded.input, loaded.source);
    const from = loaded.source === 'the configuration' ? 'defaults and environment (no config file found)' : loaded.source;
    return { result: ok('config', `valid, from ${from}; data in ${config.dataDir}`), config };
  } catch (e) {
    const message = isPortraitError(e) ? e.message : reason(e);
    let config: ResolvedConfig;
    try {
      config = resolveConfig({ ...fromEnv({}, env), ...overrides });
    } catch {
      config = resolveConfig(overrides);
    }
    return { result: fail('config', message, `Fix ${source === 'the configuration' ? 'the settings or environment variables' : source} as listed; the other checks below used the defaults.`), config };
  }
}

function checkNode(version = process.versions.node): CheckResult {
  const major = Number(version.split('.')[0]);
  return major >= 20 ? ok('node', `Node.js ${version}`) : fail('node', `Node.js ${version} is too old`, 'Install Node.js 20 or newer.');
}

/** Runs every check, in order. */
export async function runDoctor(o: DoctorOptions = {}): Promise<CheckResult[]> {
  const env = o.env ?? process.env;
  const { result, config } = checkConfig(o, env);
  const results: CheckResult[] = [result, checkNode()];
  results.push(checkDataDir(config.dataDir));
  results.push(checkDisk(config.dataDir));
  results.push(...checkDatabases(config.dataDir, config.defaultWorkspace));
  results.push(await checkPort(config.server.host, config.server.port));
  const urls = serviceUrls(env);
  if (urls.databaseUrl) results.push(await checkPostgres(urls.databaseUrl));
  if (urls.natsUrl) results.push(await checkNats(urls.natsUrl));
  return results;
}

export { checkNode };
