/** Configuration: schema, defaults, file and environment loading. */
export { ConfigSchema, type PortraitConfig } from './schema.ts';
export { resolveConfig, readConfigFile, loadConfig, findConfigFile, fromEnv, CONFIG_FILES, type ConfigInput, type ResolvedConfig } from './load.ts';
