/**
 * Loading and validating the configuration: defaults, then the config file
 * (`portrait.config.json` or `.yaml`), then environment variables, then
 * explicit overrides. Nothing else reads process.env.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { Errors, type Problem } from '../core/errors.ts';
import { scoreSpecs, type ScoreSpecs } from '../core/scores.ts';
import type { ConsentPolicy } from '../profile/index.ts';
import { readDefinitions, type SegmentDefinition } from '../segments/index.ts';
import { validateTraitDefinition, type TraitDefinition } from '../traits/index.ts';
import { ConfigSchema, type PortraitConfig } from './schema.ts';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const check = ajv.compile(ConfigSchema);

export const CONFIG_FILES = ['portrait.config.json', 'portrait.config.yaml', 'portrait.config.yml'];

export type ConfigInput = Partial<Omit<PortraitConfig, 'attributes' | 'identity' | 'dedup' | 'engine' | 'server' | 'delivery' | 'cluster' | 'outbox' | 'privacy'>> & {
  delivery?: Partial<PortraitConfig['delivery']>;
  outbox?: Partial<PortraitConfig['outbox']>;
  server?: Partial<PortraitConfig['server']>;
  attributes?: Partial<PortraitConfig['attributes']>;
  identity?: Partial<PortraitConfig['identity']>;
  dedup?: Partial<PortraitConfig['dedup']>;
  engine?: Partial<PortraitConfig['engine']>;
  cluster?: Partial<PortraitConfig['cluster']>;
  privacy?: Partial<Omit<PortraitConfig['privacy'], 'retention'>> & { retention?: Partial<PortraitConfig['privacy']['retention']> };
};

export interface ResolvedConfig extends PortraitConfig {
  traitDefinitions: TraitDefinition[];
  segmentDefinitions: SegmentDefinition[];
  tagDefinitions: SegmentDefinition[];
}

/** Validates a config object, fills defaults and checks every trait definition. */
export function resolveConfig(input: ConfigInput, source = 'the configuration'): ResolvedConfig {
  const copy = structuredClone(input) as Record<string, unknown>;
  if (!check(copy)) {
    const problems: Problem[] = (check.errors ?? []).map((e) => ({
      path: e.instancePath + (e.keyword === 'additionalProperties' ? `/${String((e.params as { additionalProperty?: string }).additionalProperty)}` : ''),
      message: e.keyword === 'additionalProperties' ? 'is not a known setting' : (e.message ?? 'is invalid'),
    }));
    throw Errors.invalidConfig(source, problems);
  }
  const config = copy as unknown as PortraitConfig;
  const problems: Problem[] = [];
  const traitDefinitions: TraitDefinition[] = [];
  const names = new Set<string>();
  config.traits.forEach((raw, i) => {
    const name = (raw as { name?: unknown } | null)?.name;
    if (typeof name === 'string') {
      if (names.has(name)) problems.push({ path: `/traits/${i}/name`, message: `duplicate trait name "${name}"` });
      names.add(name);
    }
    try {
      traitDefinitions.push(validateTraitDefinition(raw, `${source} /traits/${i}`));
    } catch (e) {
      const inner = (e as { problems?: Problem[] }).problems ?? [{ path: '', message: String(e) }];
      for (const p of inner) problems.push({ path: `/traits/${i}${p.path}`, message: p.message });
    }
  });
  const purposes = new Set(config.privacy.purposes);
  traitDefinitions.forEach((t) => {
    if (t.purpose !== undefined && !purposes.has(t.purpose)) {
      const i = config.traits.findIndex((r) => (r as { name?: unknown } | null)?.name === t.name);
      problems.push({ path: `/traits/${i}/purpose`, message: `unknown purpose "${t.purpose}" (configured: ${[...purposes].sort().join(', ')}; add it to privacy.purposes)` });
    }
  });
  const scoreNames = new Set<string>();
  config.scores.forEach((d, i) => {
    if (scoreNames.has(d.name)) problems.push({ path: `/scores/${i}/name`, message: `duplicate score name "${d.name}"` });
    scoreNames.add(d.name);
    if (d.min !== undefined && d.max !== undefined && d.min > d.max) problems.push({ path: `/scores/${i}/max`, message: `is below min (${d.min}): the range would hold no value` });
    if (d.purpose !== undefined && !purposes.has(d.purpose)) {
      problems.push({ path: `/scores/${i}/purpose`, message: `unknown purpose "${d.purpose}" (configured: ${[...purposes].sort().join(', ')}; add it to privacy.purposes)` });
    }
  });
  for (const [cat, purpose] of Object.entries(config.privacy.consentCategories)) {
    if (!purposes.has(purpose)) problems.push({ path: `/privacy/consentCategories/${cat}`, message: `maps to "${purpose}", which is not in privacy.purposes` });
  }
  if (problems.length > 0) throw Errors.invalidConfig(source, problems);
  const traits = new Map(traitDefinitions.map((t) => [t.name, t.kind as string]));
  const { segments, tags } = readDefinitions({ segments: config.segments, tags: config.tags }, { traits, attributeTypes: config.attributes.types, purposes, scores: scoreNames }, source);
  return { ...config, traitDefinitions, segmentDefinitions: segments, tagDefinitions: tags };
}

/** Reads a config file (JSON or YAML by extension). */
export function readConfigFile(file: string): ConfigInput {
  const path = resolve(file);
  if (!existsSync(path)) throw Errors.configNotFound(path);
  const text = readFileSync(path, 'utf8');
  try {
    return (file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as ConfigInput;
  } catch (e) {
    throw Errors.invalidConfig(path, [{ path: '', message: `cannot be parsed: ${(e as Error).message}` }]);
  }
}

/** The config file to use: an explicit path, PORTRAIT_CONFIG, or the first default name present in `cwd`. */
export function findConfigFile(explicit: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (explicit) return explicit;
  if (env.PORTRAIT_CONFIG) return env.PORTRAIT_CONFIG;
  return CONFIG_FILES.map((f) => resolve(cwd, f)).find((f) => existsSync(f));
}

/** Applies environment variables on top of a config (documented in the README's table). */
export function fromEnv(input: ConfigInput, env: NodeJS.ProcessEnv): ConfigInput {
  const out = structuredClone(input);
  if (env.PORTRAIT_DATA_DIR) out.dataDir = env.PORTRAIT_DATA_DIR;
  if (env.PORTRAIT_DURABILITY === 'full' || env.PORTRAIT_DURABILITY === 'normal') out.durability = env.PORTRAIT_DURABILITY;
  if (env.PORT !== undefined && env.PORT !== '') out.server = { ...out.server, port: Number(env.PORT) };
  if (env.PORTRAIT_HOST) out.server = { ...out.server, host: env.PORTRAIT_HOST };
  if (env.PORTRAIT_CORS_ORIGINS !== undefined) {
    const origins = env.PORTRAIT_CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean);
    out.server = { ...out.server, cors: { origins } };
  }
  if (env.PORTRAIT_RATE_LIMIT !== undefined && env.PORTRAIT_RATE_LIMIT !== '') out.server = { ...out.server, rateLimit: { perSecond: Number(env.PORTRAIT_RATE_LIMIT) } };
  if (env.PORTRAIT_IDENTITY_HASH_KEY) out.identity = { ...out.identity, hashKey: env.PORTRAIT_IDENTITY_HASH_KEY };
  if (env.PORTRAIT_MASTER_KEYS) out.privacy = { ...out.privacy, masterKeys: env.PORTRAIT_MASTER_KEYS };
  if (env.PORTRAIT_DATABASE_URL) out.cluster = { ...out.cluster, databaseUrl: env.PORTRAIT_DATABASE_URL };
  if (env.PORTRAIT_NATS_URL) out.cluster = { ...out.cluster, natsUrl: env.PORTRAIT_NATS_URL };
  if (env.PORTRAIT_PARTITIONS) out.cluster = { ...out.cluster, partitions: Number(env.PORTRAIT_PARTITIONS) };
  if (env.PORTRAIT_WORKER_ID) out.cluster = { ...out.cluster, workerId: env.PORTRAIT_WORKER_ID };
  if (env.PORTRAIT_ROLE) out.cluster = { ...out.cluster, role: env.PORTRAIT_ROLE as 'all' | 'api' | 'worker' };
  if (env.PORTRAIT_LEASE_TIMEOUT_MS) out.cluster = { ...out.cluster, leaseTimeoutMs: Number(env.PORTRAIT_LEASE_TIMEOUT_MS) };
  if (env.PORTRAIT_READ_CACHE_MIB) out.cluster = { ...out.cluster, readCacheMiB: Number(env.PORTRAIT_READ_CACHE_MIB) };
  if (env.PORTRAIT_REBUILD_WAIT_MS) out.cluster = { ...out.cluster, rebuildWaitMs: Number(env.PORTRAIT_REBUILD_WAIT_MS) };
  return out;
}

/** Addresses of the external services named in the environment (PostgreSQL, NATS), for checks such as `portrait doctor`. */
export function serviceUrls(env: NodeJS.ProcessEnv = process.env): { databaseUrl?: string; natsUrl?: string } {
  return { databaseUrl: env.PORTRAIT_DATABASE_URL || undefined, natsUrl: env.PORTRAIT_NATS_URL || undefined };
}

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  overrides?: ConfigInput;
}

/** The unvalidated chain: file, environment, overrides (what Portrait.open takes). */
export function loadConfigInput(opts: LoadOptions = {}): { input: ConfigInput; source: string } {
  const env = opts.env ?? process.env;
  const file = findConfigFile(opts.file, env, opts.cwd ?? process.cwd());
  const base = file ? readConfigFile(file) : {};
  return { input: { ...fromEnv(base, env), ...(opts.overrides ?? {}) }, source: file ?? 'the configuration' };
}

/** The whole chain used by the CLI, validated: file, environment, overrides. */
export function loadConfig(opts: LoadOptions = {}): ResolvedConfig {
  const { input, source } = loadConfigInput(opts);
  return resolveConfig(input, source);
}

/** The declared scores by name, as ingest and the profile fold check them. */
export function scoreSpecsOf(config: Pick<PortraitConfig, 'scores'>): ScoreSpecs {
  return scoreSpecs(config.scores);
}

/** The consent purposes and category map of a configuration, as the profile fold uses them. */
export function consentPolicyOf(config: Pick<PortraitConfig, 'privacy'>): ConsentPolicy {
  return { purposes: [...config.privacy.purposes], categories: Object.fromEntries(Object.entries(config.privacy.consentCategories).map(([k, v]) => [k.toLowerCase(), v])) };
}
