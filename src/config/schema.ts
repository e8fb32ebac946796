/**
 * The configuration schema: one object, validated at start, with every
 * default in one place. Types derive from the schema.
 */
import { Type, type Static } from '@sinclair/typebox';

export const AttributeTypeSchema = Type.Union([Type.Literal('string'), Type.Literal('number'), Type.Literal('boolean'), Type.Literal('object'), Type.Literal('array')]);

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ default: './data', description: 'Directory of the embedded SQLite files (log.db, state.db) and identity.key.' }),
    defaultWorkspace: Type.String({ default: 'default', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Workspace used when a call names none.' }),
    durability: Type.Union([Type.Literal('full'), Type.Literal('normal')], {
      default: 'full',
      description: "'full': every acknowledged append is fsynced; 'normal': survives a process crash, not a power loss.",
    }),
    traits: Type.Array(Type.Unknown(), { default: [], description: 'Computed trait definitions (see the trait schema).' }),
    segments: Type.Array(Type.Unknown(), { default: [], description: 'Segment definitions: { name, condition (text or JSON), description }.' }),
    tags: Type.Array(Type.Unknown(), { default: [], description: 'Tag definitions: { name (e.g. interest/sports), condition (omit for a manual tag), description }.' }),
    outbox: Type.Object(
      { profileUpdated: Type.Boolean({ default: false, description: "Write a 'profile.updated' outbox row per changed profile per engine commit." }) },
      { default: {}, additionalProperties: false },
    ),
    attributes: Type.Object(
      {
        setOnce: Type.Array(Type.String(), { default: [], description: 'Attributes that keep their earliest value.' }),
        types: Type.Record(Type.String(), AttributeTypeSchema, { default: {}, description: 'Declared attribute types; values are coerced when lossless, else rejected and reported.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    identity: Type.Object(
      {
        maxAnonymousIds: Type.Integer({ minimum: 1, default: 100, description: 'Most anonymous ids one profile may hold.' }),
        hashKey: Type.Optional(Type.String({ minLength: 32, description: 'Key (hex) for hashing emails; generated into <dataDir>/identity.key when absent.' })),
      },
      { default: {}, additionalProperties: false },
    ),
    dedup: Type.Object(
      { windowDays: Type.Number({ exclusiveMinimum: 0, default: 7, description: 'How long a messageId is remembered for deduplication.' }) },
      { default: {}, additionalProperties: false },
    ),
    server: Type.Object(
      {
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'HTTP port.' }),
        host: Type.String({ default: '127.0.0.1', description: 'Address to listen on (0.0.0.0 for every interface).' }),
        maxMessageKB: Type.Integer({ minimum: 1, default: 32, description: 'Largest single message (Segment: 32 KB).' }),
        maxBatchKB: Type.Integer({ minimum: 1, default: 500, description: 'Largest request body after decompression (Segment: 500 KB).' }),
        maxLag: Type.Integer({ minimum: 1, default: 200000, description: 'Records waiting for the engine beyond which ingest answers 429.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    engine: Type.Object(
      {
        batchSize: Type.Integer({ minimum: 1, maximum: 1000000, default: 20000, description: 'Most events folded per state transaction.' }),
        commitIntervalMs: Type.Integer({ minimum: 0, maximum: 60000, default: 100, description: 'Write-behind window: longest a processed event waits before its state is committed.' }),
        cacheProfiles: Type.Integer({ minimum: 100, default: 50000, description: 'Bound of the hot-profile cache.' }),
        backfillChunk: Type.Integer({ minimum: 100, default: 10000, description: 'Log records per backfill transaction.' }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type PortraitConfig = Static<typeof ConfigSchema>;
