/**
 * Reading a condition from either form and checking it against what is
 * defined: unknown traits, scores and segments, and type mismatches that the trait
 * kinds and declared attribute types make knowable. Every problem is listed
 * with its path in the JSON form.
 */
import { Ajv } from 'ajv';
import { Errors, type Problem } from '../core/errors.ts';
import { ConditionSchema, unknownTagMessage, type Condition, type Literal } from './ast.ts';
import { parseCondition } from './parse.ts';

const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addFormat('date-time', (s: string) => Number.isFinite(Date.parse(s)) && new Date(Date.parse(s)).toISOString() === s);
const validateJson = ajv.compile(ConditionSchema);

/** What a condition may refer to. */
export interface CheckContext {
  /** Trait name → kind. */
  traits: ReadonlyMap<string, string>;
  /** Declared attribute types (undeclared attributes are unknown, never an error). */
  attributeTypes: Readonly<Record<string, string>>;
  /** Names of the segments that exist (or are being defined together). */
  segments: ReadonlySet<string>;
  /** Names of the tags that exist, rule-driven or manual (absent: none). */
  tags?: ReadonlySet<string>;
  /** The configured consent purposes (absent: the defaults). */
  purposes?: ReadonlySet<string>;
  /** The declared scores (absent: none). */
  scores?: ReadonlySet<string>;
}

const DEFAULT_PURPOSES: ReadonlySet<string> = new Set(['analytics', 'personalisation', 'marketing']);

/** A problem when `purpose` is not configured, else undefined. */
export function purposeProblem(purpose: string, ctx: Pick<CheckContext, 'purposes'>, path: string): Problem | undefined {
  const known = ctx.purposes ?? DEFAULT_PURPOSES;
  return known.has(purpose) ? undefined : { path, message: `unknown purpose "${purpose}" (configured: ${[...known].sort().join(', ') || 'none'}; add it to privacy.purposes)` };
}

type RefType = 'number' | 'string' | 'boolean' | 'time' | 'array' | 'object' | 'unknown';

const NUMERIC_TRAITS = new Set(['count', 'sum', 'avg', 'distinct', 'window_count', 'window_sum']);
const RFM_KEYS: Record<string, RefType> = { recencyDays: 'number', frequency: 'number', monetary: 'number', lastSeen: 'time' };

/** Reads a condition given as text or as JSON; throws PORTRAIT_SEGMENT_CONDITION_SYNTAX or PORTRAIT_SEGMENT_INVALID. */
export function readCondition(raw: unknown, where = 'condition'): Condition {
  if (typeof raw === 'string') return parseCondition(raw, where);
  if (validateJson(raw)) return raw as Condition;
  // A union reports every branch's mismatch: a field's own problem (a bad tag or segment name) comes first.
  const errors = [...(validateJson.errors ?? [])].sort((a, b) => Number(a.instancePath === '' || a.instancePath === '/op') - Number(b.instancePath === '' || b.instancePath === '/op'));
  const problems: Problem[] = errors.slice(0, 10).map((e) => ({ path: `/condition${e.instancePath}`, message: e.message ?? 'is invalid' }));
  throw Errors.invalidSegment(where, problems.length > 0 ? problems : [{ path: '/condition', message: 'is not a condition' }]);
}

function refType(ref: string, ctx: CheckContext, path: string, problems: Problem[]): RefType {
  if (ref === 'last_seen' || ref === 'first_seen') return 'time';
  if (ref === 'event_count') return 'number';
  const [ns, name, ...sub] = ref.split('.');
  if (ns === 'consent') {
    const p = purposeProblem(name!, ctx, path);
    if (p !== undefined) problems.push(p);
    return 'boolean';
  }
  if (ns === 'score') {
    const known = ctx.scores ?? new Set<string>();
    if (!known.has(name!)) problems.push({ path, message: `unknown score "${name}"${known.size > 0 ? ` (declared: ${[...known].sort().join(', ')})` : ' (no scores are declared; add it to scores in the configuration)'}` });
    return 'number';
  }
  if (ns === 'attributes') {
    if (sub.length > 0) return 'unknown';
    const t = ctx.attributeTypes[name!];
    return t === 'string' || t === 'number' || t === 'boolean' || t === 'array' || t === 'object' ? t : 'unknown';
  }
  const kind = ctx.traits.get(name!);
  if (kind === undefined) {
    problems.push({ path, message: `unknown trait "${name}"${ctx.traits.size > 0 ? ` (defined: ${[...ctx.traits.keys()].sort().join(', ')})` : ' (no traits are defined)'}` });
    return 'unknown';
  }
  if (NUMERIC_TRAITS.has(kind) || kind === 'top') {
    if (sub.length > 0) problems.push({ path, message: `trait "${name}" (${kind}) is a ${kind === 'top' ? 'list' : 'number'} and has no keys` });
    return kind === 'top' ? 'array' : 'number';
  }
  if (kind === 'rfm') {
    if (sub.length === 0) return 'object';
    const t = sub.length === 1 ? RFM_KEYS[sub[0]!] : undefined;
    if (t === undefined) problems.push({ path, message: `trait "${name}" (rfm) has the keys ${Object.keys(RFM_KEYS).join(', ')}` });
    return t ?? 'unknown';
  }
  if (kind === 'decayed') return sub.length === 0 ? 'object' : sub.length === 1 ? 'number' : 'unknown';
  return 'unknown';
}

function literalType(v: Literal): RefType | 'null' {
  return v === null ? 'null' : typeof v === 'number' ? 'number' : typeof v === 'string' ? 'string' : 'boolean';
}

function mismatch(t: RefType, v: Literal): boolean {
  const lt = literalType(v);
  if (lt === 'null' || t === 'unknown') return false;
  if (t === 'time' || t === 'array' || t === 'object') return true;
  return t !== lt;
}

/** Lists every problem of a condition against the context (an empty list when it is sound). */
export function checkCondition(c: Condition, ctx: CheckContext, path = ''): Problem[] {
  const problems: Problem[] = [];
  walk(c, path);
  return problems;

  function walk(c: Condition, path: string): void {
    switch (c.op) {
      case 'and':
      case 'or':
        c.args.forEach((a, i) => walk(a, `${path}/args/${i}`));
        return;
      case 'not':
        walk(c.arg, `${path}/arg`);
        return;
      case 'in_segment':
        if (!ctx.segments.has(c.segment)) problems.push({ path: `${path}/segment`, message: `unknown segment "${c.segment}"` });
        return;
      case 'has_tag': {
        const message = unknownTagMessage(c.tag, ctx.tags ?? []);
        if (message !== undefined) problems.push({ path: `${path}/tag`, message });
        return;
      }
      case 'exists':
        refType(c.ref, ctx, `${path}/ref`, problems);
        return;
      case 'within':
      case 'older_than':
      case 'before':
      case 'after': {
        const t = refType(c.ref, ctx, `${path}/ref`, problems);
        if (t !== 'time' && t !== 'unknown' && t !== 'string' && !(t === 'number' && c.ref.startsWith('attributes.'))) {
          problems.push({ path: `${path}/ref`, message: `${c.ref} is a ${t}, not a time: "${c.op.replace('_', ' ')}" needs last_seen, first_seen or a time-valued attribute or trait` });
        }
        return;
      }
      case 'contains': {
        const t = refType(c.ref, ctx, `${path}/ref`, problems);
        if (t === 'number' || t === 'boolean' || t === 'time' || t === 'object') problems.push({ path: `${path}/ref`, message: `${c.ref} is a ${t}: "contains" needs a list or a string` });
        else if (t === 'string' && typeof c.value !== 'string') problems.push({ path: `${path}/value`, message: `${c.ref} is a string: "contains" needs a string` });
        return;
      }
      case 'in':
      case 'not_in': {
        const t = refType(c.ref, ctx, `${path}/ref`, problems);
        c.values.forEach((v, i) => {
          if (mismatch(t, v)) problems.push({ path: `${path}/values/${i}`, message: `${c.ref} is a ${t}; ${JSON.stringify(v)} can never equal it` });
        });
        return;
      }
      default: {
        const t = refType(c.ref, ctx, `${path}/ref`, problems);
        if (t === 'time') problems.push({ path: `${path}/ref`, message: `${c.ref} is a time: compare it with within, older than, before or after` });
        else if (mismatch(t, c.value)) problems.push({ path: `${path}/value`, message: `${c.ref} is a ${t}; ${JSON.stringify(c.value)} is a ${literalType(c.value)}` });
        else if (t === 'boolean' && c.op !== 'eq' && c.op !== 'neq') problems.push({ path: `${path}/value`, message: `${c.ref} is a boolean: use = or !=` });
      }
    }
  }
}

/**
 * The segments (and tags, by membership key) in an order where each comes after those it names; throws
 * PORTRAIT_SEGMENT_INVALID naming a cycle when there is one.
 */
export function dependencyOrder(deps: ReadonlyMap<string, ReadonlySet<string>>, what = 'segment definitions'): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string, trail: string[]): void => {
    const s = state.get(n);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(n)), n];
      throw Errors.invalidSegment(what, [{ path: `/${n}`, message: `${n.startsWith('tag:') || trail.some((t) => t.startsWith('tag:')) ? 'segments and tags' : 'segments'} refer to each other in a cycle: ${cycle.join(' → ')}` }]);
    }
    state.set(n, 'visiting');
    for (const d of [...(deps.get(n) ?? [])].sort()) if (deps.has(d)) visit(d, [...trail, n]);
    state.set(n, 'done');
    order.push(n);
  };
  for (const n of [...deps.keys()].sort()) visit(n, []);
  return order;
}
