/**
 * The configuration schema: one object, validated at start, with every
 * default in one place. Types derive from the schema.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_CONSENT_CATEGORIES, DEFAULT_PURPOSES } from '../profile/consent.ts';

export const AttributeTypeSchema = Type.Union([Type.Literal('string'), Type.Literal('number'), Type.Literal('boolean'), Type.Literal('object'), Type.Literal('array')]);

/** A declared score: a number a model outside Portrait computes per profile, sent in messages' context.scores. */
export const ScoreDeclarationSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'lower-case letters, digits and underscores, starting with a letter, at most 64 characters' }),
    description: Type.Optional(Type.String()),
    min: Type.Optional(Type.Number({ description: 'Smallest accepted value (inclusive).' })),
    max: Type.Optional(Type.Number({ description: 'Largest accepted value (inclusive).' })),
    purpose: Type.Optional(Type.String({ minLength: 1, description: 'A consent purpose: the score is applied only while the profile grants it.' })),
  },
  { additionalProperties: false },
);
export type ScoreDeclaration = Static<typeof ScoreDeclarationSchema>;

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ default: './data', description: 'Directory of the embedded SQLite files (log.db, state.db, state.keys.db) and identity.key.' }),
    defaultWorkspace: Type.String({ default: 'default', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Workspace used when a call names none.' }),
    durability: Type.Union([Type.Literal('full'), Type.Literal('normal')], {
      default: 'full',
      description: "'full': every acknowledged append is fsynced; 'normal': survives a process crash, not a power loss.",
    }),
    traits: Type.Array(Type.Unknown(), { default: [], description: 'Computed trait definitions (see the trait schema).' }),
    segments: Type.Array(Type.Unknown(), { default: [], description: 'Segment definitions: { name, condition (text or JSON), description }.' }),
    tags: Type.Array(Type.Unknown(), { default: [], description: 'Tag definitions: { name (e.g. interest/sports), condition (omit for a manual tag), description }.' }),
    scores: Type.Array(ScoreDeclarationSchema, { default: [], description: 'Declared scores (model outputs sent in context.scores): { name, description?, min?, max?, purpose? }.' }),
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
        hashKey: Type.Optional(Type.String({ minLength: 32, description: 'Key (hex) from which each workspace\'s email-hashing key is derived; generated into <dataDir>/identity.key when absent.' })),
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
        cors: Type.Object(
          { origins: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Browser origins allowed to call the API ("*" for any); empty: no cross-origin calls.' }) },
          { default: {}, additionalProperties: false },
        ),
        rateLimit: Type.Object(
          { perSecond: Type.Integer({ minimum: 0, default: 2000, description: 'Requests per second allowed to one API key (or, without a key, one address); 0 turns the limit off.' }) },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    engine: Type.Object(
      {
        batchSize: Type.Integer({ minimum: 1, maximum: 1000000, default: 20000, description: 'Most events folded per state transaction, unless the engine is catching up (see engine.rebuildBatchSize).' }),
        rebuildBatchSize: Type.Integer({
          minimum: 1,
          maximum: 1000000,
          default: 100000,
          description: 'Most events folded per state transaction while catching up: during a rebuild, and when the engine begins a transaction more than engine.batchSize records behind the log (larger transactions write each profile fewer times).',
        }),
        commitThread: Type.Boolean({
          default: false,
          description: "With a data directory: write the engine's commits from a thread of their own while the engine encodes them, and fold the next events while a commit is written (see BENCHMARKS.md). Off: the engine thread writes each commit itself and waits for it.",
        }),
        commitIntervalMs: Type.Integer({ minimum: 0, maximum: 60000, default: 0, description: 'Write-behind window: how long the engine, once it has caught up with the log, keeps folding new events before it commits (0: commit at once; under load a commit holds up to engine.batchSize events either way, engine.rebuildBatchSize when it begins further behind).' }),
        cacheProfiles: Type.Integer({ minimum: 100, default: 50000, description: "Bound of the hot-profile cache; also of each thread's cache of data keys." }),
        sizeHistorySeconds: Type.Integer({
          minimum: 1,
          maximum: 86400,
          default: 60,
          description: 'Segment and tag size history: at most one point per segment per interval of this many seconds, stamped with the start of the interval and holding the size at its last change in it.',
        }),
        backfillChunk: Type.Integer({ minimum: 100, default: 10000, description: 'Log records per backfill transaction.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    destinations: Type.Array(Type.Unknown(), { default: [], description: 'Webhook destinations: id, workspace?, url, secret, kinds, segments?, enabled? (see README).' }),
    delivery: Type.Object(
      {
        maxAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Attempts before a webhook delivery becomes a dead letter.' }),
        backoffBaseMs: Type.Integer({ minimum: 1, default: 1000, description: 'Ceiling of the first retry delay; doubles per attempt (full jitter).' }),
        backoffCapMs: Type.Integer({ minimum: 1, default: 3600000, description: 'Largest retry delay ceiling.' }),
        timeoutMs: Type.Integer({ minimum: 1, maximum: 600000, default: 10000, description: 'Timeout of one webhook request.' }),
        concurrency: Type.Integer({ minimum: 1, maximum: 256, default: 8, description: 'Webhook requests in flight at once.' }),
        batchSize: Type.Integer({ minimum: 1, maximum: 100000, default: 500, description: 'Outbox rows turned into deliveries per transaction.' }),
        idleMs: Type.Integer({ minimum: 10, default: 1000, description: 'Longest pause of the delivery loop when nothing is due.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    privacy: Type.Object(
      {
        keyFile: Type.Optional(Type.String({ minLength: 1, description: 'Master keyring file (JSON; default <dataDir>/master.keys, generated on first start).' })),
        masterKeys: Type.Optional(
          Type.String({ minLength: 1, description: 'Master keys as "id:hex,id:hex" (active first), instead of the key file; set it from PORTRAIT_MASTER_KEYS.' }),
        ),
        purposes: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }), {
          default: [...DEFAULT_PURPOSES],
          uniqueItems: true,
          description: 'Purposes consent is given for; traits, segments, tags and destinations may declare one.',
        }),
        consentCategories: Type.Record(Type.String(), Type.String(), {
          default: { ...DEFAULT_CONSENT_CATEGORIES },
          description: "Consent-manager category (matched in lower case) → purpose, for Segment's context.consent.categoryPreferences.",
        }),
        piiFields: Type.Array(Type.String({ minLength: 1 }), {
          default: ['email', 'phone', 'name', 'firstName', 'lastName', 'address', 'idNumber', 'birthday'],
          description: 'Attribute and event fields that hold personal data: stored encrypted, masked without the pii scope, erased with the person.',
        }),
        retention: Type.Object(
          {
            rules: Type.Array(
              Type.Object(
                {
                  workspace: Type.Optional(Type.String({ minLength: 1, description: 'Only this workspace (default: every workspace).' })),
                  type: Type.Optional(Type.String({ enum: ['track', 'identify', 'alias', 'group', 'page', 'screen'], description: 'Only events of this type.' })),
                  event: Type.Optional(Type.String({ minLength: 1, description: 'Only track events of this name.' })),
                  days: Type.Integer({ minimum: 1, description: 'Events older than this many days (by event time) are purged from the log.' }),
                },
                { additionalProperties: false },
              ),
              { default: [], description: 'Event retention rules; each purge is logged in the retention log.' },
            ),
            inactiveProfileDays: Type.Optional(Type.Integer({ minimum: 1, description: 'Profiles not seen for this many days are deleted.' })),
            intervalMinutes: Type.Number({ exclusiveMinimum: 0, default: 60, description: 'How often the retention scheduler runs (minutes).' }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    cluster: Type.Object(
      {
        databaseUrl: Type.Optional(Type.String({ minLength: 1, description: 'PostgreSQL connection string for state (scale-out); absent: embedded SQLite in dataDir.' })),
        natsUrl: Type.Optional(Type.String({ minLength: 1, description: 'NATS server URL for the event log on JetStream (scale-out); absent: embedded SQLite log in dataDir.' })),
        stream: Type.String({ default: 'PORTRAIT_EVENTS', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'JetStream stream name of the event log.' }),
        partitions: Type.Integer({ minimum: 1, maximum: 4096, default: 16, description: 'Partitions of the NATS event log; every node of a deployment must use the same number.' }),
        workerId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'This process\'s worker id (default: host name and process id).' })),
        role: Type.Union([Type.Literal('all'), Type.Literal('api'), Type.Literal('worker')], {
          default: 'all',
          description: "What this process runs: 'api' (HTTP, ingest into the log, reads), 'worker' (partition engines, no HTTP) or 'all' (both). 'api' and 'worker' need databaseUrl and natsUrl.",
        }),
        leaseTimeoutMs: Type.Integer({
          minimum: 100,
          maximum: 3600000,
          default: 10000,
          description: "How long a worker's partition lease lasts without renewal; a dead worker's partitions move to another after it. Renewed every third of it.",
        }),
        readCacheMiB: Type.Integer({
          minimum: 0,
          maximum: 65536,
          default: 32,
          description: 'Memory a worker keeps of the records it read lately from its partitions (MiB), so events one partition forwards to another it holds are not fetched again from NATS; 0 turns it off.',
        }),
        rebuildWaitMs: Type.Integer({
          minimum: 100,
          maximum: 3600000,
          default: 60000,
          description: 'How long a rebuild on a deployment waits for the other workers to give their partitions back (and for another rebuild to finish) before it gives up with PORTRAIT_REBUILD_BLOCKED, clearing nothing.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type PortraitConfig = Static<typeof ConfigSchema>;
