/** Configuration: schema, defaults, file and environment loading. */
export { ConfigSchema, type PortraitConfig, type ScoreDeclaration } from './schema.ts';
export { consentPolicyOf, scoreSpecsOf, resolveConfig, readConfigFile, loadConfig, loadConfigInput, type LoadOptions, findConfigFile, fromEnv, serviceUrls, CONFIG_FILES, type ConfigInput, type ResolvedConfig } from './load.ts';
