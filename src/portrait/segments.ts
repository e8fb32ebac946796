/**
 * The library API of segments and tags (`portrait.segments`): definitions
 * (list, validate, create or replace, remove), members with paging, sizes
 * over time, explanations, a profile's memberships and history, the tag
 * taxonomy as a tree with counts, manual tags, and the outbox.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { Errors, isPortraitError } from '../core/errors.ts';
import type { ProfileDoc } from '../core/profile.ts';
import { manualTagOn } from '../profile/index.ts';
import type { ResolvedConfig } from '../config/index.ts';
import type { Definitions } from '../engine/definitions.ts';
import type { EngineHandle } from '../engine/handle.ts';
import { memberKey, printCondition, readDefinitions, SegmentRegistry, SegmentSet, tagCovers, tagRefs, type DefinitionKind, type Explanation, type SegmentDefinition, type SegmentTrait } from '../segments/index.ts';
import type { MembershipChange, OutboxEntry, SegmentDefinitionRow, SegmentStore } from '../storage/index.ts';
import { relativeProblems } from './definition-problems.ts';

export interface DefinitionStatus {
  kind: DefinitionKind;
  name: string;
  version: number;
  definition: SegmentDefinition;
  /** Text form of the condition (null for a manual tag). */
  condition: string | null;
  status: 'backfilling' | 'live';
  /** Share of existing profiles evaluated by the backfill, 0..1 (1 when live). */
  progress: number;
  /** Current members in the workspace. */
  size: number;
  /**
   * Traits it reads (directly or through the segments it names) whose
   * backfill is running: until they finish, memberships stay as they were,
   * and then every profile is evaluated again.
   */
  waitingFor: string[];
  /**
   * Traits it reads that are no longer defined (the configuration dropped
   * them): it is not evaluated, and keeps its memberships, until they are
   * defined again or the definition is changed.
   */
  missingTraits: string[];
  updatedAt: string;
}

export interface TagNode {
  name: string;
  path: string;
  defined: boolean;
  manual: boolean;
  /** Profiles holding this tag itself. */
  count: number;
  /** Profiles holding this tag or any below it (each counted once). */
  total: number;
  children: TagNode[];
}

export interface PageOptions {
  workspace?: string;
  /** The `next` value of the previous page. */
  after?: string;
  limit?: number;
}

export interface MemberPage {
  members: Array<{ profileId: string; since: string }>;
  next?: string;
}

interface Parts {
  config: ResolvedConfig;
  store: SegmentStore;
  definitions: Definitions;
  /**
   * The engine, stopped while definitions change so that their backfill starts
   * from a settled state. Absent on partitioned workers: each partition engine
   * follows the stored definitions and backfills a new version over its own
   * profiles (src/storage/postgres/postgres-partition-segments.ts).
   */
  engine?: EngineHandle;
  /** Partitioned workers: the share of profiles each backfilling version has evaluated over all partitions (`kind\0name\0hash`). */
  backfillProgress?: () => Promise<Map<string, number>>;
  clock: Clock;
  /** The profile holding an identifier, or a PORTRAIT_PROFILE_NOT_FOUND error. */
  requireDoc: (idType: string, id: string, workspace: string) => Promise<ProfileDoc>;
  /** Names of the traits whose backfill runs now (read fresh from the engine's progress). */
  traitsBackfilling: () => Promise<ReadonlySet<string>>;
  /**
   * Appends the message that carries a manual tag decision for a profile (an identify with `context.portraitTags`; for a
   * group profile, a `group_tag` record); returns its messageId.
   * `as`: the decision's messageId and event time, when they are not new ones made now.
   */
  appendTag: (doc: ProfileDoc, idType: string, id: string, tag: string, on: boolean, as?: { messageId: string; time: number }) => Promise<string>;
}

export class SegmentApi {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly p: Parts) {}

  private ws(workspace: string | undefined): string {
    return workspace ?? this.p.config.defaultWorkspace;
  }

  private async registry(): Promise<SegmentRegistry> {
    const r = new SegmentRegistry();
    r.replace(await this.p.store.definitions());
    return r;
  }

  private traitContext() {
    return {
      traits: new Map(this.p.definitions.list().map((r) => [r.name, (r.definition as { kind: string }).kind])),
      attributeTypes: this.p.config.attributes.types,
      purposes: new Set(this.p.config.privacy.purposes),
      scores: new Set(this.p.config.scores.map((d) => d.name)),
    };
  }

  private traits(): Map<string, SegmentTrait> {
    const out = new Map<string, SegmentTrait>();
    for (const r of this.p.definitions.list()) {
      const rt = this.p.definitions.runtime(r.name);
      const d = r.definition as { kind: string; window?: unknown; bucket?: 'hour' | 'day' };
      if (rt) out.set(r.name, { runtime: rt, kind: d.kind, window: d.window, bucket: d.bucket });
    }
    return out;
  }

  /**
   * Brings stored definitions in line with the configuration (at open):
   * those from the file follow it; those made over the API stay unless the
   * file defines the same name.
   */
  async reconcile(config: { segments: SegmentDefinition[]; tags: SegmentDefinition[] }, position: number): Promise<void> {
    const reg = await this.registry();
    const keep = (kind: DefinitionKind, list: SegmentDefinition[]) => [
      ...list,
      ...reg.list(kind).filter((r) => r.source === 'api' && !list.some((d) => d.name === r.name)).map((r) => r.definition as unknown as SegmentDefinition),
    ];
    await this.save(reg, { segments: keep('segment', config.segments), tags: keep('tag', config.tags) }, position, 'config');
  }

  private async save(reg: SegmentRegistry, wanted: { segments: SegmentDefinition[]; tags: SegmentDefinition[] }, position: number, source: SegmentDefinitionRow['source']): Promise<void> {
    const { save, removed } = reg.reconcile(wanted, position, this.p.clock.now(), source);
    await this.p.store.saveDefinitions(save);
    for (const r of removed) await this.p.store.deleteDefinition(r.kind, r.name);
  }

  /** Sets every rule-driven definition to backfill once the engine has replayed up to `after` (rebuild). */
  async restartAll(after: number): Promise<void> {
    const reg = await this.registry();
    await this.p.store.saveDefinitions(reg.restartAll(after, this.p.clock.now()));
  }

  /** Checks that the current definitions still hold with a new set of traits; throws PORTRAIT_SEGMENT_INVALID. */
  async checkTraits(traits: ReadonlyMap<string, string>): Promise<void> {
    const { segments, tags } = this.current(await this.registry());
    readDefinitions({ segments, tags }, { ...this.traitContext(), traits }, 'segment definitions with the new traits');
  }

  private current(reg: SegmentRegistry): { segments: SegmentDefinition[]; tags: SegmentDefinition[] } {
    return {
      segments: reg.list('segment').map((r) => r.definition as unknown as SegmentDefinition),
      tags: reg.list('tag').map((r) => r.definition as unknown as SegmentDefinition),
    };
  }

  private status(reg: SegmentRegistry, row: SegmentDefinitionRow, workspace: string, progress: (row: SegmentDefinitionRow) => number, sizes: Map<string, number>, backfilling: ReadonlySet<string>): DefinitionStatus {
    const def = row.definition as unknown as SegmentDefinition;
    const inputs = reg.set().get(memberKey(row.kind, row.name))?.inputs;
    return {
      kind: row.kind,
      name: row.name,
      version: row.version,
      definition: def,
      condition: def.condition === null ? null : printCondition(def.condition),
      status: row.status,
      progress: row.status === 'live' ? 1 : progress(row),
      size: sizes.get(`${workspace}\u0000${memberKey(row.kind, row.name)}`) ?? 0,
      waitingFor: inputs === undefined ? [] : [...backfilling].filter((t) => inputs.has(`trait:${t}`)).sort(),
      missingTraits: inputs === undefined ? [] : [...inputs].filter((i) => i.startsWith('trait:') && this.p.definitions.get(i.slice(6)) === undefined).map((i) => i.slice(6)).sort(),
      updatedAt: new Date(row.updatedAt).toISOString(),
    };
  }

  /** How far a backfilling definition got: its cursor over the profiles, or the partitions' shares. */
  private async progress(): Promise<(row: SegmentDefinitionRow) => number> {
    if (this.p.backfillProgress !== undefined) {
      const shares = await this.p.backfillProgress();
      return (row) => Math.min(1, shares.get(`${row.kind}\u0000${row.name}\u0000${row.hash}`) ?? 0);
    }
    const last = await this.p.store.lastProfileCursor();
    return (row) => (last > 0 ? Math.min(1, row.cursor / last) : 0);
  }

  /** The definitions of one kind with status, backfill progress and size in the workspace. */
  async list(kind: DefinitionKind, o: { workspace?: string } = {}): Promise<DefinitionStatus[]> {
    const reg = await this.registry();
    const progress = await this.progress();
    const sizes = new Map((await this.p.store.sizes()).map((s) => [`${s.workspace}\u0000${s.segment}`, s.size]));
    const backfilling = await this.p.traitsBackfilling();
    const out: DefinitionStatus[] = [];
    for (const r of reg.list(kind)) out.push(this.status(reg, r, this.ws(o.workspace), progress, sizes, backfilling));
    return out;
  }

  /** The names of the defined tags, manual and rule-driven. */
  async tagNames(): Promise<string[]> {
    return (await this.registry()).list('tag').map((r) => r.name);
  }

  /** One definition with its status; PORTRAIT_SEGMENT_UNKNOWN / PORTRAIT_TAG_UNKNOWN when absent. */
  async get(kind: DefinitionKind, name: string, o: { workspace?: string } = {}): Promise<DefinitionStatus> {
    const found = (await this.list(kind, o)).find((d) => d.name === name);
    if (found === undefined) throw kind === 'tag' ? Errors.unknownTag(name) : Errors.unknownSegment(name);
    return found;
  }

  /** Checks a definition against the traits and the other definitions, without saving it. */
  async validate(kind: DefinitionKind, raw: unknown): Promise<SegmentDefinition> {
    const { wanted, def } = await this.with(kind, raw);
    void wanted;
    return def;
  }

  private async with(kind: DefinitionKind, raw: unknown): Promise<{ wanted: { segments: SegmentDefinition[]; tags: SegmentDefinition[] }; def: SegmentDefinition; exists: boolean }> {
    const reg = await this.registry();
    const cur = this.current(reg);
    const name = (raw as { name?: unknown } | null)?.name;
    const list = kind === 'tag' ? cur.tags : cur.segments;
    const exists = list.some((d) => d.name === name);
    const replaced = exists ? list.map((d) => (d.name === name ? raw : d)) : [...list, raw];
    const input = kind === 'tag' ? { segments: cur.segments, tags: replaced } : { segments: replaced, tags: cur.tags };
    let wanted: { segments: SegmentDefinition[]; tags: SegmentDefinition[] };
    try {
      wanted = readDefinitions(input, this.traitContext(), `${kind} definition`);
    } catch (e) {
      throw relativeProblems(e, kind, exists ? list.findIndex((d) => d.name === name) : list.length, input);
    }
    const def = (kind === 'tag' ? wanted.tags : wanted.segments).find((d) => d.name === name)!;
    return { wanted, def, exists };
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Creates or replaces a definition. A new or changed rule-driven one
   * backfills over every existing profile (status backfilling, progress),
   * then stays live. Returns whether it was created; with `create`, an
   * existing definition of that name is an error (PORTRAIT_SEGMENT_EXISTS,
   * PORTRAIT_TAG_EXISTS) and nothing changes.
   */
  put(kind: DefinitionKind, raw: unknown, o: { create?: boolean } = {}): Promise<{ created: boolean; definition: SegmentDefinition }> {
    return this.serial(async () => {
      const { wanted, def, exists } = await this.with(kind, raw);
      if (exists && o.create === true) throw kind === 'tag' ? Errors.tagExists(def.name) : Errors.segmentExists(def.name);
      await this.apply(wanted);
      return { created: !exists, definition: def };
    });
  }

  /** Removes a definition; other definitions naming it (for a tag: testing it or a tag above it) make this an error. */
  remove(kind: DefinitionKind, name: string): Promise<void> {
    return this.serial(async () => {
      const reg = await this.registry();
      if (reg.get(kind, name) === undefined) throw kind === 'tag' ? Errors.unknownTag(name) : Errors.unknownSegment(name);
      const cur = this.current(reg);
      if (kind === 'tag') {
        // A tag test covering it (its own name or a parent's) would keep what the removed tag gave: change those first.
        const naming = [...cur.segments.map((d) => ['segment', d] as const), ...cur.tags.map((d) => ['tag', d] as const)].filter(([, d]) => d.condition !== null && [...tagRefs(d.condition)].some((t) => tagCovers(t, name)));
        if (naming.length > 0) throw Errors.invalidSegment(`definitions without tag "${name}"`, naming.map(([k, d]) => ({ path: `/${k}s/${d.name}/condition`, message: `${k} "${d.name}" tests a tag covering "${name}": change or remove it first` })));
      }
      const input = kind === 'tag' ? { segments: cur.segments, tags: cur.tags.filter((d) => d.name !== name) } : { segments: cur.segments.filter((d) => d.name !== name), tags: cur.tags };
      await this.apply(readDefinitions(input, this.traitContext(), `definitions without ${kind} "${name}"`));
    });
  }

  private async apply(wanted: { segments: SegmentDefinition[]; tags: SegmentDefinition[] }): Promise<void> {
    const engine = this.p.engine;
    // Partitioned workers notice the change and each backfills its own profiles; no replay to wait for.
    if (engine === undefined) return this.save(await this.registry(), wanted, 0, 'api');
    // Stopping commits what was folded: the backfill then starts from a settled state.
    await engine.stop();
    try {
      await this.save(await this.registry(), wanted, engine.committedPosition(), 'api');
    } finally {
      await engine.start();
    }
  }

  private async requireDefined(kind: DefinitionKind, name: string): Promise<void> {
    if ((await this.registry()).get(kind, name) === undefined) throw kind === 'tag' ? Errors.unknownTag(name) : Errors.unknownSegment(name);
  }

  /** Every member of a segment, by profile id (for search). */
  async memberIds(name: string, o: { workspace?: string } = {}): Promise<Set<string>> {
    await this.requireDefined('segment', name);
    const out = new Set<string>();
    const ws = this.ws(o.workspace);
    let after: string | undefined;
    for (;;) {
      const rows = await this.p.store.members(ws, name, { after, limit: 5000 });
      for (const r of rows) out.add(r.profileId);
      if (rows.length < 5000) return out;
      after = rows[rows.length - 1]!.profileId;
    }
  }

  /** Members of a segment, by profile id, paged with `after` (the last id of the previous page). */
  members(name: string, o: PageOptions = {}): Promise<MemberPage> {
    return this.page('segment', name, o, (ws, q) => this.p.store.members(ws, name, q));
  }

  private async page(kind: DefinitionKind, name: string, o: PageOptions, read: (ws: string, q: { after?: string; limit: number }) => Promise<Array<{ profileId: string; since: number }>>): Promise<MemberPage> {
    await this.requireDefined(kind, name);
    const limit = o.limit ?? 100;
    const rows = await read(this.ws(o.workspace), { after: o.after, limit });
    const members = rows.map((r) => ({ profileId: r.profileId, since: new Date(r.since).toISOString() }));
    return rows.length === limit ? { members, next: rows[rows.length - 1]!.profileId } : { members };
  }

  /** A segment's size over time, newest first: a point per interval of `engine.sizeHistorySeconds` in which it changed (its start, the last size in it). */
  async sizes(name: string, o: { workspace?: string; from?: number; to?: number; limit?: number } = {}): Promise<Array<{ at: string; size: number }>> {
    await this.requireDefined('segment', name);
    const rows = await this.p.store.sizeHistory(this.ws(o.workspace), name, { from: o.from, to: o.to, limit: o.limit ?? 1000 });
    return rows.map((r) => ({ at: new Date(r.at).toISOString(), size: r.size }));
  }

  /** Why a profile is in or out of a segment or tag now: the condition tree with each input's value (a manual tag: whether it is set). */
  async explain(kind: DefinitionKind, name: string, idType: string, id: string, o: { workspace?: string; now?: number } = {}): Promise<{ profileId: string; member: boolean; at: string; explanation: Explanation }> {
    const reg = await this.registry();
    const row = reg.get(kind, name);
    if (row === undefined) throw kind === 'tag' ? Errors.unknownTag(name) : Errors.unknownSegment(name);
    const doc = await this.p.requireDoc(idType, id, this.ws(o.workspace));
    const now = o.now ?? this.p.clock.now();
    const set = new SegmentSet(reg.list().map((r) => ({ kind: r.kind, def: r.definition as unknown as SegmentDefinition })));
    const explanation = set.explain(memberKey(kind, name), doc, now, this.traits());
    return { profileId: doc.id, member: explanation.held, at: new Date(now).toISOString(), explanation };
  }

  /** A profile's current segments and tags. */
  async ofProfile(doc: { workspace: string; id: string }): Promise<{ segments: Array<{ name: string; since: string }>; tags: Array<{ tag: string; since: string; source: 'manual' | 'rule' }> }> {
    const m = (await this.p.store.memberships([doc])).values().next().value ?? new Map<string, number>();
    const segments = [...m].filter(([k]) => !k.startsWith('tag:')).sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([name, since]) => ({ name, since: new Date(since).toISOString() }));
    const rows = await this.p.store.profileTags(doc.workspace, doc.id);
    // A manual tag's membership is kept by the engine like a rule's: its definition says which it is
    // (read only when such a membership is there: most profiles have none, and a read should not pay for it).
    const reg = rows.some((t) => t.source !== 'manual') ? await this.registry() : undefined;
    const manual = (tag: string) => (reg?.get('tag', tag)?.definition as unknown as SegmentDefinition | undefined)?.condition === null;
    const tags = rows.map((t) => ({ tag: t.tag, since: new Date(t.since).toISOString(), source: t.source === 'manual' || manual(t.tag) ? ('manual' as const) : ('rule' as const) }));
    return { segments, tags };
  }

  /** A profile's segment and tag entries and exits, newest first. */
  async history(idType: string, id: string, o: { workspace?: string; limit?: number } = {}): Promise<MembershipChange[]> {
    const doc = await this.p.requireDoc(idType, id, this.ws(o.workspace));
    return this.p.store.membershipHistory(doc.workspace, doc.id, o.limit ?? 100);
  }

  /** The tag taxonomy as a tree, with member counts per tag and per subtree. */
  async tagTree(o: { workspace?: string } = {}): Promise<TagNode[]> {
    const ws = this.ws(o.workspace);
    const reg = await this.registry();
    const counts = new Map((await this.p.store.tagCounts(ws)).map((c) => [c.tag, c.count]));
    const defined = new Map(reg.list('tag').map((r) => [r.name, (r.definition as unknown as SegmentDefinition).condition === null]));
    const roots: TagNode[] = [];
    const nodes = new Map<string, TagNode>();
    for (const path of [...new Set([...defined.keys(), ...counts.keys()])].sort()) {
      const parts = path.split('/');
      for (let i = 1; i <= parts.length; i++) {
        const p = parts.slice(0, i).join('/');
        if (nodes.has(p)) continue;
        const node: TagNode = { name: parts[i - 1]!, path: p, defined: defined.has(p), manual: defined.get(p) === true, count: counts.get(p) ?? 0, total: 0, children: [] };
        nodes.set(p, node);
        if (i === 1) roots.push(node);
        else nodes.get(parts.slice(0, i - 1).join('/'))!.children.push(node);
      }
    }
    // Subtree totals count each profile once: one query per node with members below it.
    for (const node of nodes.values()) node.total = await this.subtreeCount(ws, node.path, counts);
    return roots;
  }

  private async subtreeCount(ws: string, path: string, counts: Map<string, number>): Promise<number> {
    const under = [...counts.keys()].filter((t) => t === path || t.startsWith(`${path}/`));
    if (under.length <= 1) return under.length === 1 ? counts.get(under[0]!)! : 0;
    const ids = new Set<string>();
    for (const t of under) {
      let after: string | undefined;
      for (;;) {
        const page = await this.p.store.tagMembers(ws, t, { after, limit: 10_000 });
        for (const r of page) ids.add(r.profileId);
        if (page.length < 10_000) break;
        after = page[page.length - 1]!.profileId;
      }
    }
    return ids.size;
  }

  /** Members of a tag (manual and rule-driven), paged by profile id. */
  tagMembers(tag: string, o: PageOptions = {}): Promise<MemberPage> {
    return this.page('tag', tag, o, (ws, q) => this.p.store.tagMembers(ws, tag, q));
  }

  /**
   * Sets (`on`) or unsets a manual tag on a profile by appending an identify
   * carrying the decision to the event log (`context.portraitTags`), or for
   * a group (account) profile a `group_tag` record naming no person: the
   * engine folds it like any message (membership, history and the
   * `tag.entered` / `tag.exited` outbox row in its commit) and a rebuild
   * repeats it. Returns at once with the message's id; `changed` tells
   * whether the decision differs from the profile's state as folded so far
   * (decisions still on their way to the engine are not counted).
   */
  async tag(tag: string, idType: string, id: string, on: boolean, o: { workspace?: string } = {}): Promise<{ profileId: string; changed: boolean; messageId: string }> {
    const row = (await this.registry()).get('tag', tag);
    if (row === undefined) throw Errors.unknownTag(tag);
    if ((row.definition as unknown as SegmentDefinition).condition !== null) throw Errors.tagNotManual(tag);
    const doc = await this.p.requireDoc(idType, id, this.ws(o.workspace));
    const changed = manualTagOn(doc, tag) !== on;
    const messageId = await this.p.appendTag(doc, idType, id, tag, on);
    return { profileId: doc.id, changed, messageId };
  }

  /**
   * Manual tags stored directly by earlier versions (before decisions went
   * through the event log) become decisions in the log, each leaving the
   * store's table once appended, so the engine folds them and a rebuild
   * repeats them. Run at open. Each decision has the row's time as its event
   * time and a messageId made from the row (workspace, profile, tag, time):
   * nodes opening together that each read the row append it once, the
   * second append being a duplicate the log drops. A row of a tag that has
   * since become a rule tag is removed (the rule decides that tag) and
   * counted in `dropped`; a row whose decision cannot be recorded (its
   * profile is gone, or its tag is no longer defined) stays
   * where it is and is counted in `kept`.
   */
  async moveStoredTags(): Promise<{ moved: number; kept: number; dropped: number }> {
    const reg = await this.registry();
    const counts = { moved: 0, kept: 0, dropped: 0 };
    for (const r of await this.p.store.storedManualTags()) {
      const row = reg.get('tag', r.tag);
      if (row !== undefined && (row.definition as unknown as SegmentDefinition).condition !== null) {
        await this.p.store.unsetTag(r.workspace, r.tag, r.profileId);
        counts.dropped++;
        continue;
      }
      try {
        if (row === undefined) throw Errors.unknownTag(r.tag);
        const doc = await this.p.requireDoc('profile_id', r.profileId, r.workspace);
        await this.p.appendTag(doc, 'profile_id', r.profileId, r.tag, true, { messageId: movedTagMessageId(r), time: r.since });
      } catch (e) {
        if (!isPortraitError(e)) throw e;
        counts.kept++;
        continue;
      }
      await this.p.store.unsetTag(r.workspace, r.tag, r.profileId);
      counts.moved++;
    }
    return counts;
  }

  /** Outbox rows after a sequence number, oldest first (what destinations deliver). */
  outbox(o: { after?: number; limit?: number } = {}): Promise<Array<OutboxEntry & { seq: number }>> {
    return this.p.store.outbox({ after: o.after, limit: o.limit ?? 100 });
  }
}

/** The messageId of a stored manual tag moved into the log: the same for the same row, whichever node moves it. */
function movedTagMessageId(r: { workspace: string; profileId: string; tag: string; since: number }): string {
  return `tag-moved-${createHash('sha256').update(JSON.stringify([r.workspace, r.profileId, r.tag, r.since])).digest('hex').slice(0, 32)}`;
}

