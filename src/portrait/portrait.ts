/**
 * The library API that the server, the CLI and the tests share:
 * `Portrait.open(config)`, `ingest(messages)`, `profile(idType, id)`,
 * `rebuild()`, `close()` and the reads around them.
 */
import {
  consentReading,
  DataKeys,
  AuditTrail,
  eventIdentKeys,
  loadKeyring,
  PiiSealer,
  PrivacyApi,
  rawIdentKeys,
  readConsentInput,
  runRetention,
  SealedEventLog,
  SuppressionList,
  type ConsentReading,
  type DeleteProfile,
  type Keyring,
  type RetentionReport,
} from '../privacy/index.ts';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ClusterEngine, homeOf, LeaseStore, loadPartitionDefinitions, overallDefinitions } from '../cluster/index.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock, DAY, HOUR, type Clock } from '../core/clock.ts';
import { Errors, type Problem } from '../core/errors.ts';
import type { Json, JsonObject, PortraitEvent, Positioned, UnlinkRecord } from '../core/event.ts';
import type { ScoreSpecs } from '../core/scores.ts';
import type { IdentityConflict, IdentityLink, MergeRecord } from '../core/identity.ts';
import { canonicalJson, type ProfileDoc } from '../core/profile.ts';
import { consentPolicyOf, resolveConfig, scoreSpecsOf, type ConfigInput, type ResolvedConfig } from '../config/index.ts';
import { Destinations, EXPORT_TRAIT_PREFIX, PostgresDestinationStore, SqliteDestinationStore, ThreadedDestinationStore, type DestinationStore, type ExportFormat } from '../destinations/index.ts';
import { Definitions, traitVersions } from '../engine/definitions.ts';
import { Engine } from '../engine/engine.ts';
import type { EngineHandle } from '../engine/handle.ts';
import { emailHasher, engineOptions, liveSegments } from '../engine/options.ts';
import type { EmailHasher } from '../identity/index.ts';
import { WorkerEngine } from '../engine/worker/worker-engine.ts';
import { foldProfile } from '../engine/replay.ts';
import { logIdsOf } from '../core/identity.ts';
import { emailReferencer, parseBatch, parseMessage, type ParseResult } from '../ingest/index.ts';
import { quarantineDigest, safeStringify } from './quarantine-raw.ts';
import { NatsEventLog, SqliteEventLog, ThreadedEventLog, type EventLog } from '../log/index.ts';
import { MANUAL_TAGS_FIELD, scoreViews, traitValue, viewOf, type ProfileView, type ScoreView } from '../profile/index.ts';
import type { AuditStore } from '../storage/audit.ts';
import { openDoc, openStateStore, PartitionSegmentStore, PostgresStore, scoped, SqliteStore, type AttributeConflict, type DefinitionRow, type HistoryEntry, type QuarantineRow, type RetentionLogEntry, type StateStore } from '../storage/index.ts';
import { validateTraitDefinition, type TraitDefinition } from '../traits/index.ts';
import { resolveIdentifier, type IdType } from './identifiers.ts';
import { apiIdentify, apiOwner, groupTagRecord, readScoresInput, type ScoresInput } from './api-identify.ts';
import { Keys } from './keys.ts';
import { compileSearch } from './search-filter.ts';
import { runSearch, type SearchPage } from './search.ts';
import { SegmentApi } from './segments.ts';
import { rebuild } from './rebuild.ts';

export interface OpenOptions {
  /** Keeps everything in memory (tests, demos): nothing survives close(). */
  memory?: boolean;
  clock?: Clock;
  /** Makes messageIds for messages without one (tests). */
  newId?: () => string;
  /** Where the configuration came from, for error messages. */
  source?: string;
  /** Deletes one profile when retention finds it inactive (`privacy.retention.inactiveProfileDays`); without it, inactive profiles are only counted. */
  deleteProfile?: DeleteProfile;
}

export type MessageOutcome =
  | { status: 'accepted'; messageId: string }
  | { status: 'duplicate'; messageId: string }
  | { status: 'quarantined'; quarantineId: number; problems: Problem[] }
  /** The message names an erased person: acknowledged, not stored (see the suppression list). */
  | { status: 'suppressed' };

export interface IngestResult {
  accepted: number;
  duplicates: number;
  quarantined: number;
  suppressed: number;
  outcomes: MessageOutcome[];
}

export interface ReadOptions {
  workspace?: string;
}

export class Portrait {
  private closed = false;
  /** API keys of every workspace. */
  readonly keys: Keys;
  /** Set by open() once the config-file destinations are in the store. */
  private webhooks: Destinations | undefined;
  private readonly counters = { received: 0, accepted: 0, duplicates: 0, quarantined: 0, suppressed: 0 };
  /** Keyed hashes of erased people's identifiers: their events are refused. */
  private readonly suppression: SuppressionList;
  private readonly hashEmail: EmailHasher;
  private readonly privacyApi: PrivacyApi;
  /** Appends not yet committed by the engine: [last position, time appended]. Bounded. */
  private readonly inFlight: Array<[number, number]> = [];
  private readonly latencyListeners = new Set<(ms: number) => void>();
  private dedupTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private suppressionTimer: NodeJS.Timeout | undefined;
  private deleteProfile: DeleteProfile | undefined;
  private readonly segmentApi: SegmentApi | undefined;
  /** Reads of personal data and admin / privacy actions (written in batches by the HTTP layer's hook). */
  readonly audit: AuditTrail;
  /** The declared scores: what context.scores may carry. */
  private readonly scoreSpecs: ScoreSpecs;

  private constructor(
    readonly config: ResolvedConfig,
    private readonly log: SealedEventLog,
    private readonly store: StateStore & AuditStore,
    private readonly definitions: Definitions,
    private readonly engine: EngineHandle & { close?: () => Promise<void> },
    private readonly clock: Clock,
    private readonly hashKey: Buffer,
    /** Master keys that seal personal data at rest. */
    readonly keyring: Keyring,
    private readonly newId: (() => string) | undefined,
  ) {
    this.keys = new Keys(store, () => clock.now());
    this.scoreSpecs = scoreSpecsOf(config);
    this.audit = new AuditTrail(store);
    this.suppression = new SuppressionList(hashKey);
    this.hashEmail = emailHasher(hashKey);
    this.privacyApi = new PrivacyApi({
      store,
      log,
      clock,
      suppression: this.suppression,
      defaultWorkspace: config.defaultWorkspace,
      partitions: config.cluster.partitions,
      resolve: (idType, id, workspace) => this.docFor(idType, id, { workspace }),
      drain: () => this.drain(),
      reads: {
        profile: (t, i, o) => this.profile(t, i, o),
        events: (t, i, o) => this.events(t, i, o),
        history: (t, i, o) => this.history(t, i, o),
        merges: (t, i, o) => this.merges(t, i, o),
        links: (t, i, o) => this.links(t, i, o),
        attributeConflicts: (t, i, o) => this.attributeConflicts(t, i, o),
        identityConflicts: (o) => this.identityConflicts(o),
        ...(store.segments && {
          memberships: (doc: { workspace: string; id: string }) => this.segments.ofProfile(doc),
          membershipHistory: (doc: { workspace: string; id: string }) => store.segments!.membershipHistory(doc.workspace, doc.id, Number.MAX_SAFE_INTEGER),
        }),
      },
      compactLog: compactor(log.inner),
    });
    // The export carries every configured purpose with its decision (or not granted).
    this.privacyApi.sections.consents = async (doc) => (await this.consent('profile_id', doc.id, { workspace: doc.workspace })).purposes;
    // Partition engines follow the stored definitions (each backfills its own profiles): no engine to stop for a change.
    const partitioned = engine instanceof ClusterEngine && store instanceof PostgresStore ? store : undefined;
    this.segmentApi =
      store.segments !== undefined
        ? new SegmentApi({
            config,
            store: store.segments,
            definitions,
            ...(partitioned === undefined ? { engine } : { backfillProgress: () => partitioned.segments.backfillProgress(config.cluster.partitions) }),
            clock,
            requireDoc: (t, i, workspace) => this.requireDoc(t, i, { workspace }),
            traitsBackfilling: async () => {
              await this.refreshDefinitions();
              return new Set(this.definitions.backfilling().keys());
            },
            appendTag: (doc, idType, id, tag, on, as) =>
              doc.kind === 'group'
                ? this.appendGroupTag(doc, tag, on, as)
                : this.appendApiIdentify('tag', idType, id, { [MANUAL_TAGS_FIELD]: { [tag]: on } }, { workspace: doc.workspace }, Errors.tagNeedsUser, Errors.invalidTagDecision, as),
          })
        : undefined;
    engine.onCommit((position) => {
      const now = performance.now();
      while (this.inFlight.length > 0 && this.inFlight[0]![0] <= position) {
        const [, at] = this.inFlight.shift()!;
        for (const l of this.latencyListeners) l(now - at);
      }
    });
  }

  /** Segments and tags: definitions, members, sizes, explanations, the tag tree, manual tags, the outbox. */
  get segments(): SegmentApi {
    if (this.segmentApi === undefined) throw Errors.notOnThisBackend('Segments and tags', 'this state store keeps no segments');
    return this.segmentApi;
  }

  /** On PostgreSQL and NATS: this node's partition engines and leases (undefined in the embedded mode). */
  get cluster(): ClusterEngine | undefined {
    return this.engine instanceof ClusterEngine ? this.engine : undefined;
  }

  /** Webhook destinations, their delivery log and dead letters, audience export. */
  get destinations(): Destinations {
    if (this.webhooks === undefined) throw Errors.notOnThisBackend('Destinations and audience export', 'this state store keeps no webhook destinations');
    return this.webhooks;
  }

  /**
   * A segment's members as CSV or NDJSON chunks, read page by page: profile
   * id, identifiers, member since, and the chosen fields (attribute names,
   * or `traits.<name>` for a computed trait's value now). An unknown segment
   * is PORTRAIT_SEGMENT_UNKNOWN; an unknown field PORTRAIT_EXPORT_FIELD_INVALID;
   * a trait being backfilled PORTRAIT_EXPORT_TRAIT_BACKFILLING (never a partial number).
   */
  async exportSegment(name: string, o: { workspace?: string; format: ExportFormat; fields?: readonly string[]; mask?: (field: string, value: Json) => Json }): Promise<AsyncGenerator<string>> {
    this.check();
    const workspace = this.ws(o);
    const destinations = this.destinations;
    await this.segments.get('segment', name, { workspace });
    await this.refreshDefinitions();
    const traits = new Map(this.definitions.rules().traits.map((t) => [t.name, t]));
    const backfilling = this.definitions.backfilling();
    for (const f of o.fields ?? []) {
      if (!f.startsWith(EXPORT_TRAIT_PREFIX)) continue;
      const n = f.slice(EXPORT_TRAIT_PREFIX.length);
      if (!traits.has(n)) throw Errors.exportFieldInvalid(f);
      const progress = backfilling.get(n);
      if (progress !== undefined) throw Errors.exportTraitBackfilling(n, progress);
    }
    const now = this.clock.now();
    const read = (doc: ProfileDoc, f: string): Json | undefined => (f.startsWith(EXPORT_TRAIT_PREFIX) ? traitValue(doc, traits.get(f.slice(EXPORT_TRAIT_PREFIX.length))!, now) : doc.attributes[f]?.v);
    return destinations.exportSegment(workspace, name, { format: o.format, fields: o.fields, mask: o.mask, read });
  }

  /** Erasure (with its ledger and suppression list) and export: the rights of the person. */
  get privacy(): PrivacyApi {
    return this.privacyApi;
  }

  /** Counts of messages received, accepted, duplicate, quarantined and suppressed since open. */
  stats(): Readonly<{ received: number; accepted: number; duplicates: number; quarantined: number; suppressed: number }> {
    return { ...this.counters };
  }

  /** Calls `listener` with the time (ms) from a durable append to the engine's commit of it. */
  onProcessed(listener: (ms: number) => void): () => void {
    this.latencyListeners.add(listener);
    return () => this.latencyListeners.delete(listener);
  }

  /**
   * Opens (creating when needed) a Portrait and starts its engine: embedded
   * (SQLite files in dataDir) by default; on PostgreSQL and/or NATS JetStream
   * when `cluster.databaseUrl` / `cluster.natsUrl` are set.
   */
  static async open(input: ConfigInput = {}, opts: OpenOptions = {}): Promise<Portrait> {
    const config = resolveConfig(input, opts.source);
    const { databaseUrl, natsUrl, role } = config.cluster;
    if (role !== 'all' && !(databaseUrl && natsUrl))
      throw Errors.invalidConfig(opts.source ?? 'the configuration', [
        { path: '/cluster/role', message: `role '${role}' needs cluster.databaseUrl and cluster.natsUrl (PORTRAIT_DATABASE_URL, PORTRAIT_NATS_URL); use role 'all' for the embedded mode` },
      ]);
    const clock = opts.clock ?? systemClock;
    if (!opts.memory) mkdirSync(config.dataDir, { recursive: true });
    const hashKey = loadHashKey(config, opts.memory === true);
    const keyring = loadKeyring(config, opts.memory === true);
    // Files: appends are fsynced in the log's writer thread. In memory, the log lives in this thread.
    const rawLog: EventLog = natsUrl
      ? await NatsEventLog.open({ servers: natsUrl, stream: config.cluster.stream, partitions: config.cluster.partitions, dedupWindowMs: config.dedup.windowDays * DAY, readCacheBytes: config.cluster.readCacheMiB * 1024 * 1024 })
      : opts.memory
        ? new SqliteEventLog({ file: ':memory:', durability: config.durability })
        : await ThreadedEventLog.open({ file: join(config.dataDir, 'log.db'), durability: config.durability });
    const sealer = new PiiSealer(keyring, config.privacy.piiFields, opts.memory ? undefined : () => loadKeyring(config, false));
    // The engine thread writes the same file: the writes this thread makes while serving wait for its lock in a thread of their own.
    const store = await openStateStore({ dataDir: config.dataDir, databaseUrl }, { memory: opts.memory, sealer, writerThread: true }).catch(async (e: unknown) => {
      await rawLog.close();
      throw e;
    });
    // Personal fields are sealed with their owner's data key before the append, opened on read.
    // As many keys cached as the engine caches profiles: the people sending events now seal without a lookup.
    const dataKeys = new DataKeys({ table: store.dataKeys, keyring, hashKey, clock, cacheSize: config.engine.cacheProfiles });
    const emailReference = emailReferencer(hashKey);
    const log = new SealedEventLog(rawLog, dataKeys, config.privacy.piiFields, emailReference);
    const definitions = newDefinitions(config);
    definitions.load(await store.definitions());
    const position = await highestPosition(store, config);
    const { save, removed } = definitions.reconcile(config.traitDefinitions, position, clock.now());
    await store.saveDefinitions(save);
    for (const n of removed) await store.deleteDefinition(n);
    const parts = { log, store, definitions, clock, hashKey };
    let follow: (() => Promise<void>) | undefined;
    // Files: the engine folds and commits in a worker thread. In memory, or on PostgreSQL / NATS,
    // it shares this thread (the worker thread opens the SQLite files by path).
    const engine: EngineHandle & { close?: () => Promise<void> } =
      log.inner instanceof NatsEventLog && store instanceof PostgresStore
        ? clusterEngine(
            config,
            log.inner,
            store,
            parts,
            (partitionLog) => new SealedEventLog(partitionLog, dataKeys, config.privacy.piiFields, emailReference),
            () => void follow?.().catch(() => undefined),
          )
        : opts.memory || databaseUrl || natsUrl
        ? new Engine(engineOptions(config, parts))
        : new WorkerEngine(
            {
              config,
              logFile: join(config.dataDir, 'log.db'),
              stateFile: join(config.dataDir, 'state.db'),
              hashKeyHex: hashKey.toString('hex'),
              keyring: keyring.toJson(),
              followClock: opts.clock !== undefined,
            },
            log,
            opts.clock,
          );
    // The engine's thread reads the events sealed with the keys this thread creates: it takes them as they are made.
    if (engine instanceof WorkerEngine) dataKeys.onCreated((workspace, keys) => engine.learnKeys(workspace, keys));
    const p = new Portrait(config, log, store, definitions, engine, clock, hashKey, keyring, opts.newId);
    // Partitioned workers: definitions changed on another node are read again (with the partitions' progress).
    follow = () => p.refreshDefinitions(true);
    const privacy = store.privacy;
    if (privacy !== undefined) {
      await p.suppression.follow(privacy);
      // Other nodes' erasures, and identifiers the workers add to an erasure's list, reach this node's list.
      if (p.cluster) p.suppressionTimer = setInterval(() => void p.suppression.follow(privacy).catch(() => undefined), 1000);
      p.suppressionTimer?.unref();
    }
    // Partition engines start a new version's backfill over their own profiles with no replay to wait for.
    if (p.segmentApi) await p.segmentApi.reconcile({ segments: config.segmentDefinitions, tags: config.tagDefinitions }, p.cluster ? 0 : position);
    const destinationStore = destinationStoreOf(store);
    if (destinationStore !== undefined) {
      // Tag filters are checked against the tags defined once the file's definitions are in force.
      const tags = async (): Promise<string[]> => (p.segmentApi ? p.segmentApi.tagNames() : []);
      const d = { store: destinationStore, clock, delivery: config.delivery, configured: config.destinations, defaultWorkspace: config.defaultWorkspace, purposes: config.privacy.purposes, tags };
      p.webhooks = await Destinations.open({ ...d, sealer }).catch(async (e: unknown) => {
        await destinationStore.close?.();
        await p.close();
        throw e;
      });
    }
    // Its data-key writer thread loads meanwhile (with the engine thread): the first ingest does not wait for it.
    if (store instanceof SqliteStore) await store.ready();
    await engine.start();
    if (p.webhooks) {
      const webhooks = p.webhooks;
      engine.onCommit(() => webhooks.committed());
      webhooks.start();
    }
    // Manual tags an earlier version stored outside the log move into it, so a rebuild repeats them.
    if (p.segmentApi) await p.segmentApi.moveStoredTags();
    // Forget deduplication keys past the window, hourly (and once at open).
    await p.expireDedup();
    p.dedupTimer = setInterval(() => void p.expireDedup().catch(() => undefined), HOUR);
    p.dedupTimer.unref();
    // Retention runs on its own period when any rule is configured (event times are judged by the injected clock).
    // Inactive profiles are erased like a person's request (ledger entry, events, data keys) but not suppressed:
    // the person may come back. A caller may inject another deletion.
    p.deleteProfile =
      opts.deleteProfile ??
      (store.privacy !== undefined ? async (workspace, id) => void (await p.privacyApi.erase('profile_id', id, { workspace, keyId: 'retention', suppress: false })) : undefined);
    const retention = config.privacy.retention;
    if (retention.rules.length > 0 || retention.inactiveProfileDays !== undefined) {
      p.retentionTimer = setInterval(() => void p.runRetention().catch(() => undefined), retention.intervalMinutes * 60_000);
      p.retentionTimer.unref();
    }
    return p;
  }

  private check(): void {
    if (this.closed) throw Errors.closed();
  }

  private ws(o: ReadOptions | undefined): string {
    return o?.workspace ?? this.config.defaultWorkspace;
  }

  /**
   * Validates and appends messages. Resolves once every accepted message is
   * durable in the log; invalid ones are quarantined with their reasons.
   */
  async ingest(messages: readonly unknown[], opts: ReadOptions & { receivedAt?: number; batchSentAt?: unknown } = {}): Promise<IngestResult> {
    this.check();
    const workspace = this.ws(opts);
    const receivedAt = opts.receivedAt ?? this.clock.now();
    const results = messages.map((m) => parseMessage(m, { workspace, clock: this.clock, receivedAt, batchSentAt: opts.batchSentAt, newId: this.newId, scores: this.scoreSpecs }));
    return this.accept(workspace, receivedAt, messages, results);
  }

  /**
   * Ingests a Segment `/v1/batch` body: the batch's `context` and `sentAt`
   * apply to each message. A malformed envelope throws PORTRAIT_EVENT_INVALID;
   * invalid messages inside are quarantined one by one.
   */
  async ingestBatch(body: unknown, opts: ReadOptions & { receivedAt?: number } = {}): Promise<IngestResult> {
    this.check();
    const workspace = this.ws(opts);
    const receivedAt = opts.receivedAt ?? this.clock.now();
    const parsed = parseBatch(body, { workspace, clock: this.clock, receivedAt, newId: this.newId, scores: this.scoreSpecs });
    if (!parsed.ok) throw Errors.invalidEvent(parsed.problems);
    const raws = (body as { batch: unknown[] }).batch;
    return this.accept(workspace, receivedAt, raws, parsed.results);
  }

  /** Quarantines the invalid messages and appends the valid ones durably. */
  private async accept(workspace: string, receivedAt: number, raws: readonly unknown[], results: readonly ParseResult[]): Promise<IngestResult> {
    const outcomes: MessageOutcome[] = new Array(raws.length);
    const valid: PortraitEvent[] = [];
    const validIndex: number[] = [];
    let quarantined = 0;
    let suppressed = 0;
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (!r.ok && this.suppression.any(workspace) && this.suppression.suppressed(workspace, rawIdentKeys(raws[i], this.hashEmail, workspace))) {
        // Quarantining it would keep the erased person's data.
        outcomes[i] = { status: 'suppressed' };
        suppressed++;
      } else if (r.ok) {
        valid.push(r.event);
        validIndex.push(i);
      } else {
        const raw = safeStringify(raws[i]);
        const id = await this.store.quarantine({ workspace, receivedAt, raw, reason: r.problems as unknown as ResolvedJson, digest: quarantineDigest(raws[i], raw) });
        outcomes[i] = { status: 'quarantined', quarantineId: id, problems: r.problems };
        quarantined++;
      }
    }
    // Checked right before the append, with no wait between: an erasure's suppression either
    // precedes this check, or its erase record is appended after these events.
    if (this.suppression.any(workspace)) {
      for (let k = valid.length - 1; k >= 0; k--) {
        if (!this.suppression.suppressed(workspace, eventIdentKeys(valid[k]!, this.hashEmail))) continue;
        outcomes[validIndex[k]!] = { status: 'suppressed' };
        suppressed++;
        valid.splice(k, 1);
        validIndex.splice(k, 1);
      }
    }
    const appended = await this.log.append(valid);
    let accepted = 0;
    let duplicates = 0;
    appended.forEach((o, k) => {
      const messageId = valid[k]!.messageId;
      if (o === 'appended') accepted++;
      else duplicates++;
      outcomes[validIndex[k]!] = { status: o === 'appended' ? 'accepted' : 'duplicate', messageId };
    });
    if (accepted > 0 && this.latencyListeners.size > 0) {
      this.inFlight.push([this.log.head(), performance.now()]);
      if (this.inFlight.length > 10_000) this.inFlight.shift();
    }
    this.counters.received += raws.length;
    this.counters.accepted += accepted;
    this.counters.duplicates += duplicates;
    this.counters.quarantined += quarantined;
    this.counters.suppressed += suppressed;
    return { accepted, duplicates, quarantined, suppressed, outcomes };
  }

  /** Resolves once the engine has processed everything appended so far (and finished backfills). */
  async drain(): Promise<void> {
    this.check();
    await this.engine.drain();
    // Partitioned workers may have added identifiers to an erasure's suppression list meanwhile.
    if (this.cluster && this.store.privacy) await this.suppression.follow(this.store.privacy);
  }

  /** Records waiting for the engine. */
  lag(): number {
    return this.engine.lag();
  }

  private async docFor(idType: IdType | string, id: string, o?: ReadOptions): Promise<ProfileDoc | undefined> {
    const workspace = this.ws(o);
    const ident = resolveIdentifier(idType, id, this.hashKey, workspace);
    let profileId: string | undefined;
    if (ident.kind === 'profile') profileId = ident.id;
    else profileId = (await this.store.identities([{ workspace, ident: ident.key }])).get(scoped(workspace, ident.key));
    if (profileId === undefined) return undefined;
    return (await this.store.profiles([{ workspace, id: profileId }])).get(scoped(workspace, profileId));
  }

  private async requireDoc(idType: IdType | string, id: string, o?: ReadOptions): Promise<ProfileDoc> {
    const d = await this.docFor(idType, id, o);
    if (d === undefined) throw Errors.profileNotFound(idType, id);
    return d;
  }

  /**
   * The profile holding an identifier (user_id, anonymous_id, email,
   * profile_id, external:<type>), or undefined. With `at`, the profile as
   * computed from its events with event time ≤ at.
   */
  async profile(idType: IdType | string, id: string, o: ReadOptions & { at?: number; now?: number } = {}): Promise<ProfileView | undefined> {
    this.check();
    const doc = await this.docFor(idType, id, o);
    if (doc === undefined) return undefined;
    await this.refreshDefinitions();
    const rules = this.definitions.rules();
    if (o.at !== undefined) {
      const at = o.at;
      const events = (await this.eventsOf(doc)).filter((e) => e.record.timestamp <= at);
      const past = foldProfile(doc, events, rules);
      return viewOf(past, rules.traits, at);
    }
    return viewOf(doc, rules.traits, o.now ?? this.clock.now(), this.definitions.backfilling());
  }

  /**
   * Searches a workspace's profiles by attributes, computed traits (as
   * the profile view shows them at `now`), segments, consents and scores, sorted and paged: see
   * `SearchRequest` for the query. Throws PORTRAIT_SEARCH_INVALID listing
   * every problem of a bad query.
   */
  async searchProfiles(query: unknown, o: ReadOptions & { now?: number } = {}): Promise<SearchPage> {
    this.check();
    await this.refreshDefinitions();
    const traits = this.definitions.rules().traits;
    const workspace = this.ws(o);
    const segments = this.segmentApi ? await this.segmentApi.list('segment', { workspace }) : undefined;
    const q = compileSearch(query, traits, segments && new Set(segments.map((s) => s.name)), this.config.privacy.purposes, [...this.scoreSpecs.keys()]);
    return runSearch(q, {
      store: this.store,
      workspace,
      traits,
      now: o.now ?? this.clock.now(),
      backfilling: this.definitions.backfilling(),
      segmentsBackfilling: new Map((segments ?? []).filter((s) => s.status === 'backfilling').map((s) => [s.name, s.progress])),
      members: (name) => this.segments.memberIds(name, { workspace }),
    });
  }

  /** A profile's events, newest first, filtered by name and time, paged by position. */
  async events(
    idType: IdType | string,
    id: string,
    o: ReadOptions & { name?: string; from?: number; to?: number; limit?: number; before?: number } = {},
  ): Promise<{ events: Array<Positioned<PortraitEvent>>; next?: number }> {
    this.check();
    const doc = await this.requireDoc(idType, id, o);
    const all = await this.eventsOf(doc);
    const limit = o.limit ?? 50;
    const matching = all
      .filter((e) => (o.before === undefined || e.position < o.before) && (o.name === undefined || e.record.event === o.name || e.record.name === o.name))
      .filter((e) => (o.from === undefined || e.record.timestamp >= o.from) && (o.to === undefined || e.record.timestamp <= o.to))
      .reverse();
    const page = matching.slice(0, limit);
    return matching.length > limit ? { events: page, next: page[page.length - 1]!.position } : { events: page };
  }

  /** The events folded into a profile so far, in position order: a person's by their ids, a group's by `groupIdsOf`. */
  private async eventsOf(doc: ProfileDoc): Promise<Positioned<PortraitEvent>[]> {
    const upTo = this.engine.committedPosition();
    if (doc.kind === 'user') return this.log.eventsFor(doc.workspace, logIdsOf(doc.identifiers), { upTo });
    const out: Positioned<PortraitEvent>[] = [];
    for (const ident of doc.identifiers) if (ident.startsWith('group:')) out.push(...(await this.log.groupEvents(doc.workspace, ident.slice(6), { upTo })));
    return out.sort((x, y) => x.position - y.position);
  }

  /** Recorded changes of a profile's attributes and computed traits, newest first. */
  async history(idType: IdType | string, id: string, o: ReadOptions & { limit?: number; before?: number } = {}): Promise<HistoryEntry[]> {
    this.check();
    const doc = await this.requireDoc(idType, id, o);
    return this.store.history(doc.workspace, doc.id, o);
  }

  /** Merges and unmerges that involved the profile. */
  async merges(idType: IdType | string, id: string, o: ReadOptions = {}): Promise<MergeRecord[]> {
    this.check();
    const doc = await this.requireDoc(idType, id, o);
    return this.store.merges(doc.workspace, doc.id);
  }

  /** The identity links that hold a profile together. */
  async links(idType: IdType | string, id: string, o: ReadOptions = {}): Promise<IdentityLink[]> {
    this.check();
    const doc = await this.requireDoc(idType, id, o);
    return this.store.linksAmong(doc.workspace, doc.identifiers);
  }

  /** Attribute values that were not applied (stale, set-once, wrong type). */
  async attributeConflicts(idType: IdType | string, id: string, o: ReadOptions = {}): Promise<AttributeConflict[]> {
    this.check();
    const doc = await this.requireDoc(idType, id, o);
    return this.store.attributeConflicts(doc.workspace, doc.id);
  }

  /** Links the merge guards refused. */
  async identityConflicts(o: ReadOptions = {}): Promise<IdentityConflict[]> {
    this.check();
    return this.store.identityConflicts(this.ws(o));
  }

  /**
   * Removes the identity link between two identifiers (keys such as
   * `user:42`, `anon:abc`) and splits their profile; both sides are rebuilt
   * from their own events. Recorded in the log so a rebuild repeats it.
   */
  async unmerge(a: string, b: string, o: ReadOptions = {}): Promise<{ messageId: string }> {
    this.check();
    const workspace = this.ws(o);
    const doc = await this.docFor('key', a, o).catch(() => undefined);
    const links = doc ? await this.store.linksAmong(workspace, doc.identifiers) : [];
    if (!links.some((l) => (l.a === a && l.b === b) || (l.a === b && l.b === a))) throw Errors.linkNotFound(a, b);
    const now = this.clock.now();
    // Partitioned workers: the split happens where the profile lives, whatever partition its identifiers hash to.
    const owner = this.config.cluster.partitions > 1 && doc !== undefined ? await this.store.ownerOf?.(workspace, doc.id) : undefined;
    const record: UnlinkRecord = { type: 'unlink', workspace, messageId: `unlink-${now}-${randomBytes(6).toString('hex')}`, a, b, ...(owner !== undefined && { partition: owner }), timestamp: now, receivedAt: now };
    await this.log.append([record]);
    return { messageId: record.messageId };
  }

  /** A profile's consent for every configured purpose (a purpose without a decision reads `granted: false`). */
  async consent(idType: IdType | string, id: string, o: ReadOptions = {}): Promise<ConsentReading> {
    this.check();
    const doc = await this.docFor(idType, id, o);
    if (doc === undefined) throw Errors.profileNotFound(idType, id);
    return consentReading(doc, this.config.privacy.purposes);
  }

  /**
   * Records consent decisions (`{ marketing: false }`) by appending an
   * identify event carrying them (`context.consent`, source `api`) to the
   * log: the engine applies it like any other decision, and a rebuild
   * repeats it. A user or anonymous id need not have a profile yet.
   */
  async setConsent(idType: IdType | string, id: string, raw: unknown, o: ReadOptions = {}): Promise<{ messageId: string; consents: Record<string, boolean> }> {
    this.check();
    const decisions = readConsentInput(raw, this.config.privacy.purposes);
    const messageId = await this.appendApiIdentify('consent', idType, id, { consent: decisions, consentSource: 'api' }, o, Errors.consentNeedsUser, Errors.invalidConsent);
    return { messageId, consents: decisions };
  }

  /** A profile's declared scores (model outputs) with the time, message and model of each. */
  async scores(idType: IdType | string, id: string, o: ReadOptions = {}): Promise<{ profileId: string; scores: Record<string, ScoreView> }> {
    this.check();
    const doc = await this.requireDoc(idType, id, o);
    return { profileId: doc.id, scores: scoreViews(doc) };
  }

  /**
   * Records scores (`{ churn: 0.82 }` or `{ churn: { value: 0.82, model:
   * "churn-v3" } }`) by appending an identify event carrying them
   * (`context.scores`) to the log: the engine folds them like scores sent
   * in any message, and a rebuild repeats them. Every name must be declared
   * and every value a finite number in its range (else PORTRAIT_SCORES_INVALID).
   */
  async setScores(idType: IdType | string, id: string, raw: unknown, o: ReadOptions = {}): Promise<{ messageId: string; scores: ScoresInput }> {
    this.check();
    const scores = readScoresInput(raw, this.scoreSpecs);
    const messageId = await this.appendApiIdentify('scores', idType, id, { scores }, o, Errors.scoresNeedUser, Errors.invalidScores);
    return { messageId, scores };
  }

  private apiSeq = 0;

  /**
   * Appends an identify carrying `context` for the owner of an identifier
   * (a user or anonymous id need not have a profile yet); returns its messageId.
   * `as` gives the messageId and event time (else a new id, now): appending the same one again is a duplicate.
   */
  private async appendApiIdentify(
    kind: string,
    idType: IdType | string,
    id: string,
    context: JsonObject,
    o: ReadOptions,
    noOwner: (idType: string, id: string) => Error,
    invalid: (problems: Problem[]) => Error,
    as?: { messageId: string; time: number },
  ): Promise<string> {
    const doc = await this.docFor(idType, id, o);
    if (doc === undefined && idType !== 'user_id' && idType !== 'anonymous_id') throw Errors.profileNotFound(idType, id);
    const owner = apiOwner(idType, id, doc);
    if (owner === undefined) throw noOwner(idType, id);
    const { messageId, now } = this.apiMessage(kind, as);
    const r = await this.ingest([apiIdentify(owner, context, messageId, now)], o);
    const outcome = r.outcomes[0]!;
    if (outcome.status === 'quarantined') throw invalid(outcome.problems);
    return messageId;
  }

  /** The messageId and event time of a message the API appends: `as`, else a new id, now. */
  private apiMessage(kind: string, as?: { messageId: string; time: number }): { messageId: string; now: number } {
    const now = as?.time ?? this.clock.now();
    // Two calls in the same millisecond order by messageId: a counter keeps the later call the later one.
    return { now, messageId: as?.messageId ?? `${kind}-${now}-${(this.apiSeq++).toString(36).padStart(8, '0')}-${randomBytes(4).toString('hex')}` };
  }

  /** Appends a group profile's manual tag decision (a `group_tag` record, placed in the group's home partition); returns its messageId. */
  private async appendGroupTag(doc: ProfileDoc, tag: string, on: boolean, as?: { messageId: string; time: number }): Promise<string> {
    const { messageId, now } = this.apiMessage('tag', as);
    const record = groupTagRecord(doc, tag, on, messageId, now);
    if (record === undefined) throw Errors.tagNeedsUser('profile_id', doc.id);
    await this.log.append([record]);
    return messageId;
  }

  /** Quarantined messages, oldest first. */
  async quarantined(o: ReadOptions & { status?: QuarantineRow['status']; limit?: number; after?: number } = {}): Promise<QuarantineRow[]> {
    this.check();
    return this.store.quarantined(this.ws(o), o);
  }

  /** One quarantined message by id, open or already re-submitted. */
  async quarantinedById(id: number, o: ReadOptions = {}): Promise<QuarantineRow | undefined> {
    this.check();
    return this.store.quarantinedById(this.ws(o), id);
  }

  /**
   * Re-submits a quarantined message, optionally replaced by a fixed
   * version. A message that is still invalid stays in quarantine (a new row
   * records the new reasons) and the outcome says why.
   */
  async resubmit(id: number, o: ReadOptions & { fixed?: unknown } = {}): Promise<MessageOutcome> {
    this.check();
    const workspace = this.ws(o);
    const row = await this.store.quarantinedById(workspace, id);
    if (row === undefined || row.status !== 'open') throw Errors.quarantineNotFound(id);
    let message: unknown = o.fixed;
    if (message === undefined) {
      try {
        message = JSON.parse(row.raw);
      } catch {
        message = row.raw;
      }
    }
    const r = await this.ingest([message], { workspace });
    const outcome = r.outcomes[0]!;
    // Sent again unchanged and still invalid, it is found in its own row (see quarantineDigest), which stays open.
    if (!(outcome.status === 'quarantined' && outcome.quarantineId === id)) await this.store.markResubmitted(workspace, id);
    return outcome;
  }

  /**
   * Backfills advance in the engine's thread, or in the workers' partitions:
   * re-read their progress while any runs (or, `always`, because another
   * node changed the definitions).
   */
  private async refreshDefinitions(always = false): Promise<void> {
    if (!always && this.definitions.backfilling().size === 0) return;
    if (this.engine instanceof ClusterEngine && this.store instanceof PostgresStore) {
      this.definitions.replace(overallDefinitions(await this.store.definitions(), await this.store.partitionBackfills()));
    } else if (this.engine instanceof WorkerEngine || always) this.definitions.replace(await this.store.definitions());
  }

  /** The trait definitions in force, with version and backfill status. */
  async traitDefinitions(): Promise<ReturnType<Definitions['list']>> {
    await this.refreshDefinitions();
    return this.definitions.list();
  }

  /** Checks a trait definition without saving it; throws the list of problems. */
  validateTrait(raw: unknown): TraitDefinition {
    return validateTraitDefinition(raw, 'the trait definition');
  }

  /**
   * Replaces the trait definitions made over the API or this library (those
   * of the configuration file stay as they are; naming one of them is a 409
   * PORTRAIT_TRAIT_FROM_CONFIG). New and changed ones backfill from the log
   * (reading as backfilling until done), then keep streaming. They are
   * stored, so they survive a restart.
   */
  async setTraits(raw: readonly unknown[]): Promise<void> {
    this.check();
    await this.changeApiTraits(() => raw);
  }

  /**
   * Creates or replaces one API-made trait definition; `created` tells which.
   * With `create`, a trait of that name already defined is an error
   * (PORTRAIT_TRAIT_EXISTS) and nothing changes.
   */
  async putTrait(raw: unknown, o: { create?: boolean } = {}): Promise<{ created: boolean }> {
    this.check();
    const def = this.validateTrait(raw);
    let created = false;
    await this.changeApiTraits((api) => {
      const row = this.definitions.get(def.name);
      if (row !== undefined && o.create === true) throw row.source === 'config' ? Errors.traitFromConfig(def.name) : Errors.traitExists(def.name);
      created = row === undefined;
      return [...api.filter((r) => r.name !== def.name).map((r) => r.definition), raw];
    });
    return { created };
  }

  /** Removes one API-made trait definition (404 when unknown, 409 when the configuration file owns it). */
  async deleteTrait(name: string): Promise<void> {
    this.check();
    await this.changeApiTraits((api) => {
      const row = this.definitions.get(name);
      if (row === undefined) throw Errors.unknownTrait(name);
      if (row.source === 'config') throw Errors.traitFromConfig(name);
      return api.filter((r) => r.name !== name).map((r) => r.definition);
    });
  }

  /** Definition changes run one at a time, each computed from the set in force when its turn comes. */
  private definitionChanges: Promise<unknown> = Promise.resolve();
  private changeApiTraits(next: (api: DefinitionRow[]) => readonly unknown[]): Promise<void> {
    const run = this.definitionChanges.then(async () => {
      const raw = next(this.definitions.list().filter((r) => r.source === 'api'));
      const defs = resolveConfig({ traits: [...raw], privacy: { purposes: this.config.privacy.purposes, consentCategories: this.config.privacy.consentCategories } }, 'the trait definitions').traitDefinitions;
      // Segments may read traits: the whole set after the change (the file's and these) must still serve them.
      const fromConfig = this.definitions.list().filter((d) => d.source === 'config');
      const kinds = new Map<string, string>([...fromConfig.map((d) => [d.name, (d.definition as { kind: string }).kind] as const), ...defs.map((d) => [d.name, d.kind as string] as const)]);
      await this.segmentApi?.checkTraits(kinds);
      // Partitioned workers follow the stored definitions: each partition starts a new version's
      // backfill at its own committed position (src/cluster/partition-definitions.ts).
      if (this.engine instanceof ClusterEngine) {
        const { save, removed } = this.definitions.reconcile(defs, await highestPosition(this.store, this.config), this.clock.now(), 'api');
        await this.store.saveDefinitions(save);
        for (const n of removed) await this.store.deleteDefinition(n);
        return;
      }
      // Stopping commits everything folded so far: the backfill then covers exactly up to the
      // committed position, and the restarted engine streams the new versions from there.
      await this.engine.stop();
      try {
        const { save, removed } = this.definitions.reconcile(defs, this.engine.committedPosition(), this.clock.now(), 'api');
        await this.store.saveDefinitions(save);
        for (const n of removed) await this.store.deleteDefinition(n);
      } finally {
        await this.engine.start();
      }
    });
    this.definitionChanges = run.catch(() => undefined);
    return run;
  }

  /**
   * Recomputes all state from the log: profiles, identities, merges,
   * history. Ingest may continue meanwhile; the engine catches up after.
   * On a deployment the other workers give their partitions back first and
   * take them again after (`waitMs`: how long to wait for them, default
   * `cluster.rebuildWaitMs`; src/portrait/rebuild.ts).
   */
  async rebuild(onProgress?: (done: number, total: number) => void, o: { waitMs?: number } = {}): Promise<void> {
    this.check();
    const { partitions, rebuildWaitMs } = this.config.cluster;
    const parts = { engine: this.engine, store: this.store, definitions: this.definitions, clock: this.clock, partitions, head: () => this.log.head(), segments: this.segmentApi };
    await rebuild(parts, { onProgress, waitMs: o.waitMs ?? rebuildWaitMs });
  }

  /**
   * A canonical dump of all derived state (one line per row), for comparing
   * a rebuild with incremental state. Trait states of superseded definition
   * versions are left out: they read as absent.
   */
  async stateDump(): Promise<string[]> {
    const rules = this.definitions.rules();
    const current = new Map(rules.traits.map((t) => [t.name, t.hash]));
    return (await this.store.dump()).map((line) => {
      if (!line.startsWith('profile ')) return line;
      const i = line.indexOf('{');
      const doc = JSON.parse(line.slice(i)) as ProfileDoc;
      for (const [name, st] of Object.entries(doc.traits)) if (current.get(name) !== st.h) delete doc.traits[name];
      return line.slice(0, i) + canonicalJson(doc);
    });
  }

  /** Number of profiles (all workspaces unless one is named). */
  async profileCount(workspace?: string): Promise<number> {
    return this.store.profileCount(workspace);
  }

  /**
   * Crypto-shredding: destroys the data keys of an identifier and, when it
   * belongs to a profile, of every identifier of that profile. Their events
   * stay in the log (and its copies) but read back without their personal
   * fields, marked `context.shredded: true`. Returns how many keys existed.
   */
  async shred(idType: IdType | string, id: string, o: ReadOptions = {}): Promise<{ destroyed: number }> {
    this.check();
    const workspace = this.ws(o);
    const ident = resolveIdentifier(idType, id, this.hashKey, workspace);
    const doc = await this.docFor(idType, id, o);
    const identifiers = [...(doc?.identifiers ?? []), ...(ident.kind === 'profile' ? [] : [ident.key])];
    return { destroyed: await this.destroyDataKeys(doc?.workspace ?? workspace, identifiers) };
  }

  /** Destroys the data keys of these identifier keys (`user:42`, `anon:abc`; others own no events): what erasure calls. */
  async destroyDataKeys(workspace: string, identifiers: readonly string[]): Promise<number> {
    this.check();
    const { destroyed, subjects } = await this.log.keys.destroy(workspace, identifiers);
    // The engine's thread caches keys too: it must not open these events again.
    if (this.engine instanceof WorkerEngine) this.engine.forgetKeys(workspace, subjects);
    return destroyed;
  }

  /**
   * One retention pass (what the scheduler runs every
   * `privacy.retention.intervalMinutes`): purges old events from the log,
   * deletes inactive profiles, logs each purge. `dryRun` only counts.
   */
  private retentionRun: Promise<unknown> = Promise.resolve();
  async runRetention(o: { dryRun?: boolean } = {}): Promise<RetentionReport> {
    this.check();
    // One pass at a time: a scheduled pass and a CLI or test call never interleave.
    const run = this.retentionRun.then(() =>
      runRetention(
        { log: this.log, table: this.store.retention, config: this.config.privacy.retention, now: this.clock.now(), committed: this.engine.committedPosition(), deleteProfile: this.deleteProfile },
        o,
      ),
    );
    this.retentionRun = run.catch(() => undefined);
    return run;
  }

  /** The retention log of a workspace (with passes over every workspace), newest first. */
  async retentionLog(o: ReadOptions & { limit?: number; before?: number } = {}): Promise<RetentionLogEntry[]> {
    this.check();
    return this.store.retention.list(this.ws(o), o);
  }

  /** Forgets deduplication keys older than the configured window. */
  expireDedup(): Promise<number> {
    return this.log.expireDedup(this.clock.now() - this.config.dedup.windowDays * DAY);
  }

  /** Position of the last record in the log and of the last one processed. */
  positions(): { log: number; engine: number } {
    return { log: this.log.head(), engine: this.engine.committedPosition() };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.dedupTimer);
    clearInterval(this.retentionTimer);
    clearInterval(this.suppressionTimer);
    await this.retentionRun;
    await this.audit.flush();
    await this.webhooks?.stop();
    await this.webhooks?.store.close?.();
    if (this.engine.close) await this.engine.close();
    else await this.engine.stop();
    await this.log.close();
    await this.store.close();
  }
}

type ResolvedJson = import('../core/event.ts').Json;

/** Checkpoints and vacuums the log file, for a log kept in SQLite. */
function compactor(log: EventLog): (() => void) | undefined {
  return log instanceof ThreadedEventLog || log instanceof SqliteEventLog ? () => log.compact() : undefined;
}

/**
 * On PostgreSQL and NATS: the partitioned engines of a worker (role worker or
 * all), or none at all on an API-only node, which only follows progress.
 */
/**
 * The partition engines of a deployment on PostgreSQL and NATS. Each reads its
 * partition through `seal`, which opens personal fields as the main log does.
 */
function clusterEngine(
  config: ResolvedConfig,
  log: NatsEventLog,
  store: PostgresStore,
  parts: Parameters<typeof engineOptions>[1],
  seal: (partitionLog: EventLog) => EventLog,
  onDefinitionsChanged: () => void,
): ClusterEngine {
  const { partitions, role } = config.cluster;
  // Erased identifiers are kept as the suppression list keeps them: keyed hashes.
  const suppression = new SuppressionList(parts.hashKey);
  const erasedHash = (workspace: string, identKey: string) => suppression.hash(workspace, identKey);
  return new ClusterEngine({
    log,
    store,
    leases: new LeaseStore(store.pool, config.cluster.leaseTimeoutMs),
    workerId: config.cluster.workerId ?? `${hostname()}-${process.pid}`,
    partitions,
    work: role !== 'api',
    outbox: store,
    engineOptions: (partition, partitionLog, definitions) => {
      const own = { ...parts, definitions, log: seal(partitionLog) };
      // Each partition engine evaluates the segments and tags of the profiles it writes.
      const segmentStore = new PartitionSegmentStore({ pool: store.pool, shared: store.segments, sealer: store.sealer, partition, partitions, head: () => partitionLog.head() });
      return {
        ...engineOptions(config, own),
        segments: liveSegments(config, own, { store: segmentStore, partition, partitions }),
        ...(partitions > 1 && {
          partitioned: {
            homeOf: homeOf(partitions),
            routes: (keys) => store.routes(partition, keys),
            applied: () => store.controlApplied(partition),
            positions: () => store.positions(),
            openDoc: (doc) => openDoc(store.sealer, doc),
            blocks: () => store.partitionBlocks(partition),
            erased: () => store.erasedIdentifiers(partition),
            hashIdent: erasedHash,
            backfills: () => store.partitionBackfills(),
            lastControl: () => store.lastControl(partition),
            storedVersions: async () => traitVersions(await store.definitions()),
          },
        }),
      };
    },
    definitions: (partition) => loadPartitionDefinitions(store, newDefinitions(config), partition, partitions),
    // Trait, segment and tag definitions: partition engines restart with them when any changes.
    definitionsFingerprint: async () => {
      const traits = await store.definitionsFingerprint();
      return { versions: `${traits.versions}|${await store.segments.definitionsFingerprint()}`, status: traits.status };
    },
    onDefinitionsChanged,
    onError: (e) => process.emitWarning(`Portrait worker: ${(e as Error).message ?? String(e)}`),
  });
}

function newDefinitions(config: ResolvedConfig): Definitions {
  return new Definitions({ setOnce: new Set(config.attributes.setOnce), types: config.attributes.types }, consentPolicyOf(config), scoreSpecsOf(config));
}

/**
 * The highest committed position of any partition: with partitioned workers,
 * a definition made while any partition holds data backfills (each partition
 * up to its own position).
 */
async function highestPosition(store: StateStore, config: ResolvedConfig): Promise<number> {
  const partitions = config.cluster.databaseUrl && config.cluster.natsUrl ? config.cluster.partitions : 1;
  let m = 0;
  for (let p = 0; p < partitions; p++) m = Math.max(m, await store.position(p));
  return m;
}

/** Where a state store keeps webhook destinations and their deliveries (both stores do). */
function destinationStoreOf(store: StateStore): DestinationStore | undefined {
  if (store instanceof SqliteStore) {
    // A state file: deliveries are recorded from a thread of their own, so waiting for the engine's write lock never stalls reads.
    if (store.db.memory) return new SqliteDestinationStore(store.db);
    return new ThreadedDestinationStore({ file: store.db.name, durability: store.db.pragma('synchronous', { simple: true }) === 2 ? 'full' : 'normal' });
  }
  if (store instanceof PostgresStore) return new PostgresDestinationStore(store.pool);
  return undefined;
}

/** The key for hashing emails: configured, or generated once into the data directory. */
function loadHashKey(config: ResolvedConfig, memory: boolean): Buffer {
  if (config.identity.hashKey) return Buffer.from(config.identity.hashKey, 'hex');
  if (memory) return randomBytes(32);
  const file = join(config.dataDir, 'identity.key');
  if (existsSync(file)) return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  const key = randomBytes(32);
  writeFileSync(file, key.toString('hex'), { mode: 0o600 });
  return key;
}
