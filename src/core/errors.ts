/**
 * The one catalogue of Portrait errors. Every error carries a stable code
 * (`PORTRAIT_<AREA>_<WHAT>`), an HTTP status where one applies, and a message
 * that tells the user what to do next.
 */

export interface Problem {
  /** JSON-pointer-like path of the offending field, e.g. `/properties/price`. */
  path: string;
  message: string;
}

export class PortraitError extends Error {
  readonly code: string;
  readonly status: number;
  readonly problems: Problem[];

  constructor(code: string, message: string, status = 500, problems: Problem[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PortraitError';
    this.code = code;
    this.status = status;
    this.problems = problems;
  }

  toJSON(): { code: string; message: string; problems?: Problem[] } {
    return this.problems.length > 0
      ? { code: this.code, message: this.message, problems: this.problems }
      : { code: this.code, message: this.message };
  }
}

type Factory<A extends unknown[]> = (...args: A) => PortraitError;

function define<A extends unknown[]>(code: string, status: number, message: (...args: A) => string, problems?: (...args: A) => Problem[]): Factory<A> & { code: string } {
  const f = (...args: A) => new PortraitError(code, message(...args), status, problems ? problems(...args) : []);
  return Object.assign(f, { code });
}

/** A definition sent to `PUT …/{name}` naming another name than the path's. */
const nameMismatch = (body: unknown, path: string) => `The definition is named ${JSON.stringify(body)} but the path names "${path}". Use the same name in both, or leave the name out of the body.`;

const listProblems = (problems: Problem[]) => problems.map((p) => `${p.path || '/'}: ${p.message}`).join('; ');

export const Errors = {
  // Events
  invalidEvent: define('PORTRAIT_EVENT_INVALID', 400,
    (problems: Problem[]) => `The event is invalid: ${listProblems(problems)}. Fix these fields and send it again.`,
    (problems) => problems),
  notJson: define('PORTRAIT_EVENT_NOT_JSON', 400,
    (detail: string) => `The payload is not valid JSON (${detail}). Send a JSON object.`),

  // Config and definitions
  invalidConfig: define('PORTRAIT_CONFIG_INVALID', 400,
    (source: string, problems: Problem[]) => `Invalid configuration (${source}): ${listProblems(problems)}. Fix these settings and try again.`,
    (_source, problems) => problems),
  configNotFound: define('PORTRAIT_CONFIG_NOT_FOUND', 400,
    (file: string) => `The configuration file ${file} does not exist. Create it or pass another path.`),
  unknownTrait: define('PORTRAIT_TRAIT_UNKNOWN', 404,
    (name: string) => `No computed trait named "${name}" is defined. List the definitions to see the known names.`),
  traitFromConfig: define('PORTRAIT_TRAIT_FROM_CONFIG', 409,
    (name: string) => `The trait "${name}" is defined in the configuration file, which owns it. Change it there (it applies at the next start), or pick another name.`),
  traitExists: define('PORTRAIT_TRAIT_EXISTS', 409,
    (name: string) => `A trait named "${name}" is already defined. Replace it with PUT /v1/traits/${name}, or pick another name.`),
  traitNameMismatch: define('PORTRAIT_TRAIT_NAME_MISMATCH', 400,
    nameMismatch),
  unknownAggregator: define('PORTRAIT_TRAIT_UNKNOWN_KIND', 400,
    (kind: string, known: string[]) => `Unknown trait kind "${kind}". Use one of: ${known.join(', ')}.`),

  // Segments and tags
  conditionSyntax: define('PORTRAIT_SEGMENT_CONDITION_SYNTAX', 400,
    (where: string, position: number, line: number, column: number, reason: string) =>
      `The ${where} cannot be read at position ${position} (line ${line}, column ${column}): ${reason}. Fix the condition and try again.`,
    (_where, position, line, column, reason) => [{ path: `/condition@${position}`, message: `line ${line}, column ${column}: ${reason}` }]),
  invalidSegment: define('PORTRAIT_SEGMENT_INVALID', 400,
    (what: string, problems: Problem[]) => `The ${what} is invalid: ${listProblems(problems)}. Fix these and try again.`,
    (_what, problems) => problems),
  segmentExists: define('PORTRAIT_SEGMENT_EXISTS', 409,
    (name: string) => `A segment named "${name}" is already defined. Replace it with PUT /v1/segments/${name}, or pick another name.`),
  tagExists: define('PORTRAIT_TAG_EXISTS', 409,
    (name: string) => `A tag named "${name}" is already defined. Replace it with PUT /v1/tags/${encodeURIComponent(name)}, or pick another name.`),
  segmentNameMismatch: define('PORTRAIT_SEGMENT_NAME_MISMATCH', 400,
    nameMismatch),
  unknownSegment: define('PORTRAIT_SEGMENT_UNKNOWN', 404,
    (name: string) => `No segment named "${name}" is defined. List the segments to see the known names.`),
  unknownTag: define('PORTRAIT_TAG_UNKNOWN', 404,
    (name: string) => `No tag named "${name}" is defined. List the tags to see the taxonomy.`),
  tagNotManual: define('PORTRAIT_TAG_NOT_MANUAL', 409,
    (name: string) => `Tag "${name}" is rule-driven: its members follow its condition. Set and unset only manual tags (tags without a condition).`),
  tagNeedsUser: define('PORTRAIT_TAG_NO_IDENTIFIER', 409,
    (idType: string, id: string) => `The profile with ${idType} "${id}" holds no user id, anonymous id or group id to record a manual tag under. Tag it by user_id, anonymous_id or group_id.`),
  invalidTagDecision: define('PORTRAIT_TAG_INVALID', 400,
    (problems: Problem[]) => `The manual tag decision is invalid: ${listProblems(problems)}.`,
    (problems) => problems),

  // Identity
  invalidConsent: define('PORTRAIT_CONSENT_INVALID', 400,
    (problems: Problem[]) => `The consent is invalid: ${listProblems(problems)}. Send an object of configured purposes (privacy.purposes) to true or false, e.g. {"marketing": false}.`,
    (problems) => problems),
  consentNeedsUser: define('PORTRAIT_CONSENT_NO_IDENTIFIER', 409,
    (idType: string, id: string) => `The profile with ${idType} "${id}" holds no user id or anonymous id to record consent under. Record it by user_id or anonymous_id.`),
  invalidScores: define('PORTRAIT_SCORES_INVALID', 400,
    (problems: Problem[]) => `The scores are invalid: ${listProblems(problems)}. Send an object of declared scores (the scores setting) to finite numbers in their range, e.g. {"churn": 0.82} or {"churn": {"value": 0.82, "model": "churn-v3"}}.`,
    (problems) => problems),
  scoresNeedUser: define('PORTRAIT_SCORES_NO_IDENTIFIER', 409,
    (idType: string, id: string) => `The profile with ${idType} "${id}" holds no user id or anonymous id to record scores under. Record them by user_id or anonymous_id.`),
  profileNotFound: define('PORTRAIT_PROFILE_NOT_FOUND', 404,
    (idType: string, id: string) => `No profile has ${idType} "${id}". Check the identifier type and value.`),
  unknownIdType: define('PORTRAIT_IDENTITY_UNKNOWN_TYPE', 400,
    (idType: string) => `Unknown identifier type "${idType}". Use user_id, anonymous_id, email, profile_id or external:<type>.`),
  linkNotFound: define('PORTRAIT_IDENTITY_LINK_NOT_FOUND', 404,
    (a: string, b: string) => `There is no identity link between ${a} and ${b}. List the profile's links to see the existing ones.`),

  // Profile search
  invalidSearch: define('PORTRAIT_SEARCH_INVALID', 400,
    (problems: Problem[]) => `The profile search is invalid: ${listProblems(problems)}. Fix these parts of the query and send it again.`,
    (problems) => problems),
  searchSegmentBackfilling: define('PORTRAIT_SEARCH_SEGMENT_BACKFILLING', 409,
    (name: string, progress: number) => `Segment "${name}" is being evaluated over existing profiles (${Math.floor(progress * 100)} % done), so its membership is partial. Search on it again once that ends.`),
  searchTraitBackfilling: define('PORTRAIT_SEARCH_TRAIT_BACKFILLING', 409,
    (name: string, progress: number) => `Computed trait "${name}" is being backfilled (${Math.floor(progress * 100)} % done), so its values are partial. Search on it again once the backfill ends.`),

  // HTTP
  rateLimited: define('PORTRAIT_HTTP_RATE_LIMITED', 429,
    (perSecond: number, after: string) => `Too many requests: this API key may send ${perSecond} a second. Retry in ${after} (see Retry-After), or send larger batches.`),

  // Quarantine
  quarantineNotFound: define('PORTRAIT_QUARANTINE_NOT_FOUND', 404,
    (id: number) => `Quarantined event ${id} does not exist or was already re-submitted.`),

  // Destinations and exports
  destinationInvalid: define('PORTRAIT_DESTINATION_INVALID', 400,
    (problems: Problem[]) => `The destination is invalid: ${listProblems(problems)}. Fix these fields and send it again.`,
    (problems) => problems),
  destinationNotFound: define('PORTRAIT_DESTINATION_NOT_FOUND', 404,
    (id: string) => `No destination "${id}" exists in this workspace. List the destinations to see their ids.`),
  destinationExists: define('PORTRAIT_DESTINATION_EXISTS', 409,
    (id: string) => `A destination "${id}" already exists. Choose another id, or update it with PATCH.`),
  destinationFromConfig: define('PORTRAIT_DESTINATION_FROM_CONFIG', 409,
    (id: string) => `Destination "${id}" is defined in the configuration file. Change it there and restart.`),
  deadLetterNotFound: define('PORTRAIT_DEAD_LETTER_NOT_FOUND', 404,
    (id: string) => `Delivery "${id}" is not a dead letter of this destination (it does not exist, was delivered, or was already replayed).`),
  exportFieldInvalid: define('PORTRAIT_EXPORT_FIELD_INVALID', 400,
    (field: string) => `Export field "${field}" is neither an attribute name nor traits.<name> of a defined computed trait. Name fields separated by commas, e.g. fields=city,plan,traits.orders.`),
  exportTraitBackfilling: define('PORTRAIT_EXPORT_TRAIT_BACKFILLING', 409,
    (name: string, progress: number) => `Computed trait "${name}" is being backfilled (${Math.floor(progress * 100)} % done), so its values are partial. Export it again once the backfill ends.`),

  // Privacy
  keyringInvalid: define('PORTRAIT_PRIVACY_KEYRING_INVALID', 500,
    (detail: string) => `The master keyring is invalid: ${detail}. Fix PORTRAIT_MASTER_KEYS or the key file (privacy.keyFile).`),
  erasureNotFound: define('PORTRAIT_PRIVACY_ERASURE_NOT_FOUND', 404,
    (id: string) => `No erasure "${id}" exists in this workspace. List them with GET /v1/privacy/erasures.`),
  groupNotErasable: define('PORTRAIT_PRIVACY_GROUP_NOT_ERASABLE', 400,
    (what: string) => `${what} is a group (an account), not a person: erasure removes people. Erase the members by their user_id, anonymous_id, email or external id.`),
  unsealable: define('PORTRAIT_PRIVACY_UNSEALABLE', 500,
    (detail: string) => `An encrypted value cannot be opened: ${detail}. Restore the key it was sealed with to the keyring.`),
  keysFromEnvironment: define('PORTRAIT_PRIVACY_KEYS_FROM_ENV', 400,
    () => 'The master keys come from PORTRAIT_MASTER_KEYS (privacy.masterKeys), not a key file: change that variable instead (the first key is the active one).'),
  keyInUse: define('PORTRAIT_PRIVACY_KEY_IN_USE', 409,
    (id: string, n: number) => `Key "${id}" still seals ${n} stored value(s). Run \`portrait privacy reseal\` (after restarting processes that still seal with it), then retire it.`),

  // Lifecycle
  notOnThisBackend: define('PORTRAIT_NOT_ON_THIS_BACKEND', 501,
    (feature: string, why = 'it works on the embedded SQLite store only so far') =>
      `${feature}: not available on this deployment (${why}). Use an embedded instance for it (leave cluster.databaseUrl and cluster.natsUrl unset).`),
  closed: define('PORTRAIT_CLOSED', 503,
    () => 'This Portrait instance is closed. Open a new one with Portrait.open().'),
  storage: define('PORTRAIT_STORAGE_FAILED', 500,
    (what: string) => `Storage failed while ${what}. Check the data directory is writable and has free space.`),
  staleWriter: define('PORTRAIT_STALE_WRITER', 409,
    (partition: number, expected: number, actual: number) =>
      `Partition ${partition} is at position ${actual}, not ${expected}: another worker advanced it. Stop this writer and resume from the stored position.`),
  staleBackfill: define('PORTRAIT_STALE_WRITER', 409,
    (partition: number, trait: string, expected: number, actual: number | undefined) =>
      `Partition ${partition}'s backfill of trait "${trait}" is at ${actual ?? 'another version'}, not ${expected}: another worker advanced it. Stop this writer and resume from the stored progress.`),
  staleLease: define('PORTRAIT_STALE_WRITER', 409,
    (partition: number, token: number, actual: number | undefined) =>
      `Partition ${partition}'s lease carries fencing token ${actual ?? 'none'}, not ${token}: another worker took the partition over. Stop this writer; the new owner resumes from the stored state.`),
  rebuildBlocked: define('PORTRAIT_REBUILD_BLOCKED', 409,
    (waitMs: number, holders: readonly string[]) =>
      `The rebuild waited ${waitMs} ms for the other workers to give their partitions back, but ${holders.join(', ')} still hold partition leases; nothing was cleared. Check that those workers run a Portrait that honours the rebuild fence (or stop them) and run the rebuild again; cluster.rebuildWaitMs sets the wait.`),
  rebuildInProgress: define('PORTRAIT_REBUILD_IN_PROGRESS', 409,
    (waitMs: number, owner: string) =>
      `Worker ${owner} is rebuilding the deployment and its rebuild fence was not lifted within ${waitMs} ms; nothing was cleared. Let that rebuild finish (the fence of one that died expires after cluster.leaseTimeoutMs) and run the rebuild again if it is still needed.`),
  rebuildNotAWorker: define('PORTRAIT_REBUILD_NOT_A_WORKER', 409,
    () => 'This node runs no partition engines (cluster.role api), so it cannot rebuild. Run the rebuild on a worker node, or with `portrait rebuild`, which works as a worker while it rebuilds.'),
  staleSegmentDefinitions: define('PORTRAIT_STALE_WRITER', 409,
    (partition: number) =>
      `The segment and tag definitions changed since partition ${partition}'s engine loaded them. Nothing was written; the engine reloads the definitions and evaluates again.`),
  migrationFailed: define('PORTRAIT_STORAGE_MIGRATION_FAILED', 500,
    (version: number, name: string, detail: string) => `Schema migration ${version} (${name}) failed: ${detail}. Nothing of it was applied; fix the cause and run \`portrait migrate\` again.`),
  schemaTooNew: define('PORTRAIT_STORAGE_SCHEMA_TOO_NEW', 500,
    (found: number, known: number) => `The database schema is at version ${found}, newer than this Portrait knows (${known}). Upgrade Portrait before opening this database.`),
  serviceUnavailable: define('PORTRAIT_SERVICE_UNAVAILABLE', 503,
    (service: string, url: string, detail: string) => `Cannot reach ${service} at ${url} (${detail}). Start it or fix the URL in the configuration.`),
} as const;

export function isPortraitError(e: unknown): e is PortraitError {
  return e instanceof PortraitError;
}
