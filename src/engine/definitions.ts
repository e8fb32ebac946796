/**
 * The computed-trait definitions in force and their versions. A definition
 * whose content changed gets a new version and is backfilled from the log
 * up to the engine's position at that moment; events after it stream in as
 * usual. Until its backfill ends, a trait reads as backfilling.
 */
import { createHash } from 'node:crypto';
import { Errors } from '../core/errors.ts';
import type { Json } from '../core/event.ts';
import type { ScoreSpecs } from '../core/scores.ts';
import { defaultConsentPolicy, type AttributePolicy, type ConsentPolicy, type ProfileRules, type TraitRuntime } from '../profile/index.ts';
import type { DefinitionRow } from '../storage/index.ts';
import { compileTrait, definitionHash, type TraitDefinition } from '../traits/index.ts';

/** A short fingerprint of trait definition versions (name and hash of each), in any order. */
export function traitVersions(rows: Iterable<{ name: string; hash: string }>): string {
  const parts = [...rows].map((r) => `${r.name}=${r.hash}`).sort();
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}

export class Definitions {
  private rows = new Map<string, DefinitionRow>();
  private runtimes = new Map<string, TraitRuntime>();
  private cachedRules: ProfileRules | undefined;
  private cachedVersions: string | undefined;

  constructor(
    private readonly attributes: AttributePolicy,
    private readonly consent: ConsentPolicy = defaultConsentPolicy(),
    private readonly scores: ScoreSpecs = new Map(),
  ) {}

  /** Replaces every definition with the stored rows (another thread changed them). */
  replace(rows: readonly DefinitionRow[]): void {
    this.rows.clear();
    this.runtimes.clear();
    this.load(rows);
  }

  /** Loads stored rows (at open). */
  load(rows: readonly DefinitionRow[]): void {
    for (const r of rows) this.install(r);
    this.cachedRules = undefined;
    this.cachedVersions = undefined;
  }

  private install(r: DefinitionRow): void {
    this.rows.set(r.name, r);
    const compiled = compileTrait(r.definition as unknown as TraitDefinition);
    this.runtimes.set(r.name, { name: compiled.name, hash: compiled.hash, aggregator: compiled.aggregator, input: compiled.input, ...(compiled.definition.purpose !== undefined ? { purpose: compiled.definition.purpose } : {}) });
  }

  /**
   * Brings the definitions of one source in line with `wanted`: unchanged
   * ones stay, new or changed ones get a new version that backfills up to
   * `position`, missing ones of that source are removed. The configuration
   * file owns the names it defines: it takes over a name defined over the
   * API, and the API cannot change one of its names. Returns the rows to
   * save and the names removed.
   */
  reconcile(wanted: readonly TraitDefinition[], position: number, now: number, source: DefinitionRow['source'] = 'config'): { save: DefinitionRow[]; removed: string[] } {
    if (source === 'api') {
      for (const def of wanted) if (this.rows.get(def.name)?.source === 'config') throw Errors.traitFromConfig(def.name);
    }
    const save: DefinitionRow[] = [];
    const names = new Set<string>();
    for (const def of wanted) {
      names.add(def.name);
      const hash = definitionHash(def);
      const existing = this.rows.get(def.name);
      if (existing && existing.hash === hash) {
        if (existing.source !== source) {
          const owned: DefinitionRow = { ...existing, source, updatedAt: now };
          this.rows.set(def.name, owned);
          save.push(owned);
        }
        continue;
      }
      const row: DefinitionRow = {
        source,
        name: def.name,
        hash,
        version: (existing?.version ?? 0) + 1,
        definition: def as unknown as Json,
        status: position > 0 ? 'backfilling' : 'live',
        backfillCursor: 0,
        backfillTarget: position,
        updatedAt: now,
      };
      this.install(row);
      save.push(row);
    }
    const removed = [...this.rows.values()].filter((r) => r.source === source && !names.has(r.name)).map((r) => r.name);
    for (const n of removed) {
      this.rows.delete(n);
      this.runtimes.delete(n);
    }
    this.cachedRules = undefined;
    this.cachedVersions = undefined;
    return { save, removed };
  }

  /** Marks a backfill's progress; returns the updated row. */
  advance(name: string, cursor: number, now: number): DefinitionRow {
    const r = this.rows.get(name)!;
    const next: DefinitionRow = { ...r, backfillCursor: cursor, status: cursor >= r.backfillTarget ? 'live' : 'backfilling', updatedAt: now };
    this.rows.set(name, next);
    return next;
  }

  /** Puts rows of the same versions back as they were (a backfill commit that failed). */
  restore(rows: readonly DefinitionRow[]): void {
    for (const r of rows) if (this.rows.get(r.name)?.hash === r.hash) this.rows.set(r.name, r);
  }

  /** All rows set live, as after a rebuild from the whole log. */
  allLive(now: number): DefinitionRow[] {
    const out: DefinitionRow[] = [];
    for (const r of this.rows.values()) {
      const next: DefinitionRow = { ...r, status: 'live', backfillCursor: 0, backfillTarget: 0, updatedAt: now };
      this.rows.set(r.name, next);
      out.push(next);
    }
    return out;
  }

  rules(): ProfileRules {
    this.cachedRules ??= { traits: [...this.runtimes.values()].sort((a, b) => (a.name < b.name ? -1 : 1)), attributes: this.attributes, consent: this.consent, scores: this.scores };
    return this.cachedRules;
  }

  /** The fingerprint of the versions in force (traitVersions). */
  versions(): string {
    this.cachedVersions ??= traitVersions(this.rows.values());
    return this.cachedVersions;
  }

  list(): DefinitionRow[] {
    return [...this.rows.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  get(name: string): DefinitionRow | undefined {
    return this.rows.get(name);
  }

  runtime(name: string): TraitRuntime | undefined {
    return this.runtimes.get(name);
  }

  /** Traits still backfilling, with progress in [0, 1). */
  backfilling(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.rows.values()) {
      if (r.status === 'backfilling') m.set(r.name, r.backfillTarget > 0 ? r.backfillCursor / r.backfillTarget : 0);
    }
    return m;
  }

  /** Whether a trait's state covers the event at `position` (replays during a backfill must not double-count). */
  covers(t: TraitRuntime, position: number): boolean {
    const r = this.rows.get(t.name);
    if (r === undefined || r.status === 'live') return true;
    return position <= r.backfillCursor || position > r.backfillTarget;
  }
}
