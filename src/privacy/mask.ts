/**
 * Masking personal data in API answers for callers without the `pii` scope.
 * One module for every route: profile views, search results, history,
 * conflicts, events (traits, context.traits, properties), segment export,
 * quarantined raw payloads and explanations.
 *
 * An email keeps its first character and domain (`a***@example.com`), a phone
 * number its last four digits (`***4567`), any other value reads `***`.
 */
import type { Json } from '../core/event.ts';

const PHONE_FIELD = /phone|mobile|tel|fax/i;
export const MASK = '***';

/** The masked form of one personal value; `field` hints at its kind. */
export function maskValue(field: string, v: Json): Json {
  if (v === null) return null;
  if (typeof v === 'string') {
    const at = v.lastIndexOf('@');
    if (at > 0 && at < v.length - 1) return `${v[0]}${MASK}${v.slice(at)}`;
    if (PHONE_FIELD.test(field)) {
      const digits = v.replace(/\D/g, '');
      return digits.length > 4 ? `${MASK}${digits.slice(-4)}` : MASK;
    }
    return MASK;
  }
  if (typeof v === 'number' && PHONE_FIELD.test(field)) return maskValue(field, String(v));
  return MASK;
}

export class Masker {
  private readonly fields: ReadonlySet<string>;

  constructor(fields: Iterable<string>) {
    this.fields = new Set(fields);
  }

  has(field: string): boolean {
    return this.fields.has(field);
  }

  /** A value of `field`, masked when the field is personal. */
  value(field: string, v: Json): Json {
    return this.fields.has(field) ? maskValue(field, v) : v;
  }

  /** An attribute map (name → value) with personal values masked. */
  attributes<T extends Record<string, Json>>(attrs: T): T {
    const out: Record<string, Json> = { ...attrs };
    for (const k of Object.keys(out)) if (this.fields.has(k)) out[k] = maskValue(k, out[k]!);
    return out as T;
  }

  /** Anything with an `attributes` map (profile views, search items). */
  withAttributes<T extends { attributes: Record<string, Json> }>(o: T): T {
    return { ...o, attributes: this.attributes(o.attributes) };
  }

  /** History changes: `attr.<name>` → [old, new]. */
  changes<T extends Record<string, [Json | undefined, Json | undefined]>>(changes: T): T {
    const out: Record<string, [Json | undefined, Json | undefined]> = { ...changes };
    for (const [k, pair] of Object.entries(out)) {
      if (!k.startsWith('attr.') || !this.fields.has(k.slice(5))) continue;
      const f = k.slice(5);
      out[k] = [pair[0] === undefined ? undefined : maskValue(f, pair[0]), pair[1] === undefined ? undefined : maskValue(f, pair[1])];
    }
    return out as T;
  }

  /** An attribute conflict: kept and rejected. */
  conflict<T extends { attribute: string; kept: Json; rejected: Json }>(c: T): T {
    return this.fields.has(c.attribute) ? { ...c, kept: maskValue(c.attribute, c.kept), rejected: maskValue(c.attribute, c.rejected) } : c;
  }

  /**
   * Any JSON (events, raw payloads): every property named as a personal field,
   * at any depth, is masked — which covers traits, context.traits and properties.
   */
  deep<T>(v: T): T {
    if (this.fields.size === 0) return v;
    return this.walk(v as unknown) as T;
  }

  private walk(v: unknown): unknown {
    if (Array.isArray(v)) return v.map((x) => this.walk(x));
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = this.fields.has(k) && (x === null || typeof x !== 'object') ? maskValue(k, x as Json) : this.walk(x);
    }
    return out;
  }

  /** An event: personal fields inside traits, context.traits and properties (any depth below them). */
  event<T extends { traits?: unknown; properties?: unknown; context?: unknown }>(e: T): T {
    if (this.fields.size === 0) return e;
    const out = { ...e };
    if (e.traits !== undefined) out.traits = this.deep(e.traits);
    if (e.properties !== undefined) out.properties = this.deep(e.properties);
    const ctx = e.context as { traits?: unknown } | undefined;
    if (ctx !== undefined && ctx !== null && typeof ctx === 'object' && ctx.traits !== undefined) out.context = { ...ctx, traits: this.deep(ctx.traits) };
    return out;
  }

  /** A segment explanation tree: the value of each `attributes.<personal field>` input. */
  explanation<T extends { ref?: string; value?: Json; children?: T[] }>(x: T): T {
    if (this.fields.size === 0) return x;
    const out = { ...x };
    const field = x.ref?.startsWith('attributes.') ? x.ref.split('.')[1]! : undefined;
    if (field !== undefined && this.fields.has(field) && x.value !== undefined) out.value = maskValue(field, x.value);
    if (x.children !== undefined) out.children = x.children.map((c) => this.explanation(c));
    return out;
  }

  /** A raw text payload (quarantine): masked when it is JSON, else wholly hidden when it names a personal field. */
  raw(text: string): string {
    if (this.fields.size === 0) return text;
    try {
      return JSON.stringify(this.deep(JSON.parse(text) as unknown));
    } catch {
      return [...this.fields].some((f) => text.includes(f)) ? MASK : text;
    }
  }
}
