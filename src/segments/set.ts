/**
 * A compiled set of segment and rule-driven tag definitions: checked
 * together (unknown names, types, cycles), ordered so a segment comes after
 * those it names, and indexed from inputs to the segments that read them.
 */
import { createHash } from 'node:crypto';
import { Errors, PortraitError, type Problem } from '../core/errors.ts';
import type { Json } from '../core/event.ts';
import { canonicalJson, type ProfileDoc } from '../core/profile.ts';
import { inputRefs, segmentRefs, tagCovers, tagRefs, SEGMENT_NAME_PATTERN, TAG_NAME_PATTERN, type Condition } from './ast.ts';
import { checkCondition, dependencyOrder, purposeProblem, readCondition, type CheckContext } from './check.ts';
import { consentGranted, manualTagOn, traitOfKey } from '../profile/index.ts';
import { evaluate, explain, nextChange, ProfileReader, type Explanation, type OtherDefinitions, type SegmentTrait } from './evaluate.ts';

export type DefinitionKind = 'segment' | 'tag';

/** A checked definition in its stored (JSON) form. */
export interface SegmentDefinition {
  name: string;
  /** Null for a manual tag. */
  condition: Condition | null;
  description?: string;
  /** A consent purpose: a profile without that consent granted is never a member. */
  purpose?: string;
}

/** The membership key of a definition: the segment's name, or `tag:<name>`. */
export function memberKey(kind: DefinitionKind, name: string): string {
  return kind === 'tag' ? `tag:${name}` : name;
}

/** Version identity of a definition: sha256 of its canonical JSON, 16 hex digits. */
export function segmentHash(d: SegmentDefinition): string {
  return createHash('sha256').update(canonicalJson(d)).digest('hex').slice(0, 16);
}

/**
 * The input keys the dependency index uses: activity (first/last seen, event
 * count), trait:<name>, attr:<name>, consent:<purpose>, score:<name>; and
 * tag:<name> for a manual tag set or unset on the profile.
 */
export function inputKey(ref: string): string {
  if (ref === 'last_seen' || ref === 'first_seen' || ref === 'event_count') return 'activity';
  const [ns, name] = ref.split('.');
  return ns === 'traits' ? `trait:${name}` : ns === 'consent' ? `consent:${name}` : ns === 'score' ? `score:${name}` : `attr:${name}`;
}

/**
 * The input key of a history change's key: `attr.<name>`, `trait.<name>`,
 * `consent.<purpose>` and `score.<name>` name the inputs `attr:<name>`, … ;
 * `trait.<name>.<key>` (one key of an object value) names `trait:<name>`.
 */
export function changedInput(historyKey: string): string {
  const trait = traitOfKey(historyKey);
  if (trait !== undefined) return `trait:${trait}`;
  const dot = historyKey.indexOf('.');
  return `${historyKey.slice(0, dot)}:${historyKey.slice(dot + 1)}`;
}

/**
 * Reads raw segment and tag definitions (condition as text or JSON) and
 * checks them together; throws PORTRAIT_SEGMENT_INVALID listing every problem.
 */
export function readDefinitions(
  raw: { segments?: readonly unknown[]; tags?: readonly unknown[] },
  ctx: Omit<CheckContext, 'segments'>,
  source = 'the segment definitions',
): { segments: SegmentDefinition[]; tags: SegmentDefinition[] } {
  const problems: Problem[] = [];
  // A lone syntax error keeps its own code, position and reason.
  let syntax: PortraitError | undefined;
  const read = (kind: DefinitionKind, list: readonly unknown[]): SegmentDefinition[] => {
    const out: SegmentDefinition[] = [];
    const seen = new Set<string>();
    list.forEach((r, i) => {
      const path = `/${kind}s/${i}`;
      if (r === null || typeof r !== 'object' || Array.isArray(r)) {
        problems.push({ path, message: 'must be an object with a name and a condition' });
        return;
      }
      const o = r as Record<string, unknown>;
      const pattern = new RegExp(kind === 'tag' ? TAG_NAME_PATTERN : SEGMENT_NAME_PATTERN);
      for (const k of Object.keys(o)) if (k !== 'name' && k !== 'condition' && k !== 'description' && k !== 'purpose') problems.push({ path: `${path}/${k}`, message: 'is not a known field (name, condition, description, purpose)' });
      if (typeof o.name !== 'string' || !pattern.test(o.name)) {
        const rule = kind === 'tag' ? 'lower-case words of letters, digits and underscores joined by "/", such as interest/sports/football' : 'lower-case letters, digits and underscores, starting with a letter';
        problems.push({ path: `${path}/name`, message: `must be ${rule}` });
        return;
      }
      if (seen.has(o.name)) problems.push({ path: `${path}/name`, message: `duplicate ${kind} name "${o.name}"` });
      seen.add(o.name);
      if (o.description !== undefined && typeof o.description !== 'string') problems.push({ path: `${path}/description`, message: 'must be a string' });
      let condition: Condition | null = null;
      if (o.condition === undefined || o.condition === null) {
        if (kind === 'segment') problems.push({ path: `${path}/condition`, message: 'is required for a segment' });
      } else {
        try {
          condition = readCondition(o.condition, `condition of ${kind} "${o.name}"`);
        } catch (e) {
          if (e instanceof PortraitError && e.code === Errors.conditionSyntax.code) syntax ??= e;
          for (const p of (e as { problems?: Problem[] }).problems ?? [{ path: `${path}/condition`, message: String(e) }]) problems.push(p);
          return;
        }
      }
      const d: SegmentDefinition = { name: o.name, condition };
      if (typeof o.description === 'string') d.description = o.description;
      if (o.purpose !== undefined) {
        if (typeof o.purpose !== 'string') problems.push({ path: `${path}/purpose`, message: 'must be a string naming a consent purpose' });
        else {
          const p = purposeProblem(o.purpose, ctx, `${path}/purpose`);
          if (p !== undefined) problems.push(p);
          d.purpose = o.purpose;
        }
      }
      out.push(d);
    });
    return out;
  };
  const segments = read('segment', raw.segments ?? []);
  const tags = read('tag', raw.tags ?? []);
  const names = new Set(segments.map((s) => s.name));
  const full: CheckContext = { ...ctx, segments: names, tags: new Set(tags.map((t) => t.name)) };
  const check = (kind: DefinitionKind, list: SegmentDefinition[]) =>
    list.forEach((d, i) => {
      if (d.condition !== null) problems.push(...checkCondition(d.condition, full, `/${kind}s/${i}/condition`));
    });
  check('segment', segments);
  check('tag', tags);
  if (problems.length === 1 && syntax !== undefined) throw syntax;
  if (problems.length > 0) throw Errors.invalidSegment(source, problems);
  // Cycles: between segments and rule-driven tags, which name each other (a manual tag names nothing).
  dependencyOrder(dependencies([...segments.map((def) => ({ kind: 'segment' as const, def })), ...tags.map((def) => ({ kind: 'tag' as const, def }))]), source);
  return { segments, tags };
}

/**
 * Per rule-driven definition (by membership key), the definitions it names:
 * the segments of its in_segment tests, and for each has_tag test every
 * rule-driven tag that tag covers (itself and those below it).
 */
function dependencies(defs: ReadonlyArray<{ kind: DefinitionKind; def: SegmentDefinition }>): Map<string, Set<string>> {
  const ruleTags = defs.filter((d) => d.kind === 'tag' && d.def.condition !== null).map((d) => d.def.name);
  const out = new Map<string, Set<string>>();
  for (const { kind, def } of defs) {
    if (def.condition === null) continue;
    const deps = segmentRefs(def.condition);
    for (const t of tagRefs(def.condition)) for (const x of ruleTags) if (tagCovers(t, x)) deps.add(memberKey('tag', x));
    out.set(memberKey(kind, def.name), deps);
  }
  return out;
}

export interface CompiledSegment {
  kind: DefinitionKind;
  name: string;
  key: string;
  /** Null for a manual tag: a member when the profile carries it (set through the event log). */
  condition: Condition | null;
  purpose?: string;
  /** Input keys read, including through the segments it names. */
  inputs: ReadonlySet<string>;
}

/** Result of evaluating a profile. */
export interface Evaluation {
  /** Membership keys held after evaluation. */
  members: Set<string>;
  /** Earliest time-driven change among the evaluated definitions (Infinity: none). */
  next: number;
}

export class SegmentSet {
  /** Rule-driven definitions in dependency order. */
  readonly order: CompiledSegment[];
  private readonly byKey = new Map<string, CompiledSegment>();
  private readonly byInput = new Map<string, CompiledSegment[]>();
  /** Per membership key, the rule-driven definitions naming it (in_segment, or a has_tag test covering the tag). */
  private readonly namedBy = new Map<string, Set<string>>();

  /** Every tag defined (rule-driven or manual), sorted. */
  private readonly tags: string[];

  constructor(defs: ReadonlyArray<{ kind: DefinitionKind; def: SegmentDefinition }>) {
    const byKey = new Map(defs.map((d) => [memberKey(d.kind, d.def.name), d]));
    this.tags = defs.filter((d) => d.kind === 'tag').map((d) => d.def.name).sort();
    const ruleOrder = dependencyOrder(dependencies(defs));
    const inputs = new Map<string, Set<string>>();
    const compile = (kind: DefinitionKind, d: SegmentDefinition): CompiledSegment => {
      const key = memberKey(kind, d.name);
      if (d.condition === null) {
        // Set by hand; with a purpose, held only while that consent is granted.
        inputs.set(key, new Set(d.purpose === undefined ? [key] : [key, `consent:${d.purpose}`]));
        return { kind, name: d.name, key, condition: null, inputs: inputs.get(key)!, ...(d.purpose !== undefined ? { purpose: d.purpose } : {}) };
      }
      const own = new Set([...inputRefs(d.condition)].map(inputKey));
      if (d.purpose !== undefined) own.add(`consent:${d.purpose}`);
      const named = [...segmentRefs(d.condition)];
      // A tag test reads every tag it covers: manual ones through their own input, rule-driven ones through theirs.
      for (const t of tagRefs(d.condition)) for (const x of this.tags) if (tagCovers(t, x)) named.push(memberKey('tag', x));
      for (const s of named) for (const k of inputs.get(s) ?? []) own.add(k);
      for (const s of named) {
        const by = this.namedBy.get(s);
        if (by) by.add(key);
        else this.namedBy.set(s, new Set([key]));
      }
      inputs.set(key, own);
      return { kind, name: d.name, key, condition: d.condition, inputs: own, ...(d.purpose !== undefined ? { purpose: d.purpose } : {}) };
    };
    // Manual tags first: they name nothing, and rules may name them.
    const manual = defs.filter((d) => d.kind === 'tag' && d.def.condition === null).sort((a, b) => (a.def.name < b.def.name ? -1 : 1));
    this.order = [...manual.map((d) => compile('tag', d.def)), ...ruleOrder.map((k) => compile(byKey.get(k)!.kind, byKey.get(k)!.def))];
    for (const c of this.order) {
      this.byKey.set(c.key, c);
      for (const i of c.inputs) {
        const list = this.byInput.get(i);
        if (list) list.push(c);
        else this.byInput.set(i, [c]);
      }
    }
  }

  get size(): number {
    return this.order.length;
  }

  get(key: string): CompiledSegment | undefined {
    return this.byKey.get(key);
  }

  /** The keys of the rule-driven definitions that name any of these keys, directly or through the definitions naming them. */
  dependents(keys: Iterable<string>): Set<string> {
    const out = new Set<string>();
    const todo = [...keys];
    for (let k = todo.pop(); k !== undefined; k = todo.pop()) {
      for (const d of this.namedBy.get(k) ?? []) {
        if (out.has(d)) continue;
        out.add(d);
        todo.push(d);
      }
    }
    return out;
  }

  /** Names of the computed traits the definitions read. */
  traitsRead(): Set<string> {
    const out = new Set<string>();
    for (const i of this.byInput.keys()) if (i.startsWith('trait:')) out.add(i.slice(6));
    return out;
  }

  /** The keys of the definitions that read any of the changed inputs. */
  affected(changed: Iterable<string>): Set<string> {
    const out = new Set<string>();
    for (const i of changed) for (const c of this.byInput.get(i) ?? []) out.add(c.key);
    return out;
  }

  private reader(doc: ProfileDoc, now: number, traits: ReadonlyMap<string, SegmentTrait>, held: Set<string>, previous: ReadonlyMap<string, unknown>, only: ReadonlySet<string> | undefined): ProfileReader {
    const others = new Others(this.byKey, this.tags, held, previous, only);
    return (others.reader = new ProfileReader(doc, now, traits, others));
  }

  /**
   * Evaluates the definitions in `only` (all when absent) for one profile;
   * the others keep their `previous` membership.
   */
  evaluate(doc: ProfileDoc, now: number, traits: ReadonlyMap<string, SegmentTrait>, previous: ReadonlyMap<string, unknown>, only?: ReadonlySet<string>): Evaluation {
    const members = new Set<string>();
    for (const k of previous.keys()) if (only !== undefined && !only.has(k)) members.add(k);
    const r = this.reader(doc, now, traits, members, previous, only);
    let next = Infinity;
    for (const c of this.order) {
      if (only !== undefined && !only.has(c.key)) continue;
      // Without the consent its purpose needs, a profile is never a member (and time changes nothing).
      if (!consentGranted(doc, c.purpose)) continue;
      if (c.condition === null) {
        if (manualTagOn(doc, c.name)) members.add(c.key);
        continue;
      }
      if (evaluate(c.condition, r)) members.add(c.key);
      const n = nextChange(c.condition, r);
      if (n < next) next = n;
    }
    return { members, next };
  }

  /** Why a profile is in or out of one definition at `now`. */
  explain(key: string, doc: ProfileDoc, now: number, traits: ReadonlyMap<string, SegmentTrait>): Explanation {
    const c = this.byKey.get(key)!;
    const { members } = this.evaluate(doc, now, traits, new Map());
    const r = this.reader(doc, now, traits, members, new Map(), undefined);
    const inner: Explanation = c.condition === null ? { condition: `set manually: ${c.name}`, held: manualTagOn(doc, c.name) } : explain(c.condition, r);
    if (c.purpose === undefined) return inner;
    const ref = `consent.${c.purpose}`;
    const granted = consentGranted(doc, c.purpose);
    const gate: Explanation = { condition: `${ref} = true`, held: granted, ref, value: granted };
    return { condition: `purpose ${c.purpose}: ${inner.condition}`, held: granted && inner.held, children: [gate, inner] };
  }

  /** The purpose a definition is bound to, if any. */
  purposeOf(key: string): string | undefined {
    return this.byKey.get(key)?.purpose;
  }
}

/** Reads the stored JSON form of a definition back. */
export function storedDefinition(definition: Json): SegmentDefinition {
  return definition as unknown as SegmentDefinition;
}

/**
 * The other definitions as one profile's evaluation sees them: those already
 * evaluated (in `only`, or all) by their new membership, the others by their
 * previous one; next changes computed once per definition.
 */
class Others implements OtherDefinitions {
  private readonly nexts = new Map<string, number>();
  /** The reader these answers serve (next changes are read through it). */
  reader!: ProfileReader;

  constructor(
    private readonly byKey: ReadonlyMap<string, CompiledSegment>,
    private readonly tags: readonly string[],
    private readonly held: ReadonlySet<string>,
    private readonly previous: ReadonlyMap<string, unknown>,
    private readonly only: ReadonlySet<string> | undefined,
  ) {}

  segment(key: string): boolean {
    return this.only === undefined || this.only.has(key) ? this.held.has(key) : this.previous.has(key);
  }

  segmentNext(key: string): number {
    let n = this.nexts.get(key);
    if (n === undefined) {
      const c = this.byKey.get(key);
      n = c === undefined || c.condition === null ? Infinity : nextChange(c.condition, this.reader);
      this.nexts.set(key, n);
    }
    return n;
  }

  tagged(tag: string): string[] {
    const out: string[] = [];
    for (const x of this.tags) if (tagCovers(tag, x) && this.segment(memberKey('tag', x))) out.push(x);
    return out;
  }

  tagNext(tag: string): number {
    let n = Infinity;
    for (const x of this.tags) if (tagCovers(tag, x)) n = Math.min(n, this.segmentNext(memberKey('tag', x)));
    return n;
  }
}
