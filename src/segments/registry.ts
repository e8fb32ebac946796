/**
 * The segment and tag definitions in force, with versions and backfill
 * status. A new or changed definition (a manual tag too) starts a backfill: every
 * existing profile is evaluated once, in chunks, with visible progress.
 */
import type { Json } from '../core/event.ts';
import type { SegmentDefinitionRow } from '../storage/index.ts';
import { memberKey, segmentHash, SegmentSet, storedDefinition, type DefinitionKind, type SegmentDefinition } from './set.ts';

export class SegmentRegistry {
  private rows = new Map<string, SegmentDefinitionRow>();
  private compiled: SegmentSet | undefined;

  /** Replaces every definition with stored rows. */
  replace(rows: readonly SegmentDefinitionRow[]): void {
    this.rows.clear();
    for (const r of rows) this.rows.set(`${r.kind}\u0000${r.name}`, r);
    this.compiled = undefined;
  }

  list(kind?: DefinitionKind): SegmentDefinitionRow[] {
    return [...this.rows.values()].filter((r) => kind === undefined || r.kind === kind).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(kind: DefinitionKind, name: string): SegmentDefinitionRow | undefined {
    return this.rows.get(`${kind}\u0000${name}`);
  }

  /** The compiled definitions (manual tags included). */
  set(): SegmentSet {
    this.compiled ??= new SegmentSet(this.list().map((r) => ({ kind: r.kind, def: storedDefinition(r.definition) })));
    return this.compiled;
  }

  /** Rows whose backfill has not finished. */
  backfilling(): SegmentDefinitionRow[] {
    return this.list().filter((r) => r.status === 'backfilling');
  }

  /**
   * Brings the definitions in line with `wanted`: unchanged ones stay, new or
   * changed ones (manual tags included) get a new version and a backfill that starts once
   * the engine has passed `after`; missing ones are removed. The rule-driven
   * ones that named a removed tag (a tag test covering it, directly or
   * through the definitions they name) backfill again, so no profile keeps a
   * membership the removed tag gave. A new backfill restarts any running
   * one, so all run as one pass over the profiles.
   */
  reconcile(wanted: { segments: SegmentDefinition[]; tags: SegmentDefinition[] }, after: number, now: number, source: SegmentDefinitionRow['source']): { save: SegmentDefinitionRow[]; removed: Array<{ kind: DefinitionKind; name: string }> } {
    const save: SegmentDefinitionRow[] = [];
    const keep = new Set<string>();
    let restart = false;
    // The set in force before the change: which definitions named the tags about to go.
    const wantedTags = new Set(wanted.tags.map((d) => d.name));
    const before = this.list('tag').some((r) => !wantedTags.has(r.name)) ? this.set() : undefined;
    for (const [kind, list] of [['segment', wanted.segments], ['tag', wanted.tags]] as const) {
      for (const def of list) {
        const id = `${kind}\u0000${def.name}`;
        keep.add(id);
        const hash = segmentHash(def);
        const existing = this.rows.get(id);
        if (existing && existing.hash === hash) continue;
        // Every new version is evaluated over every profile, a manual tag's too: decisions on it may already be folded.
        restart = true;
        const row: SegmentDefinitionRow = {
          kind,
          name: def.name,
          definition: def as unknown as Json,
          hash,
          version: (existing?.version ?? 0) + 1,
          status: 'backfilling',
          cursor: 0,
          after,
          updatedAt: now,
          source,
        };
        this.rows.set(id, row);
        save.push(row);
      }
    }
    const removed: Array<{ kind: DefinitionKind; name: string }> = [];
    for (const [id, r] of this.rows) {
      if (keep.has(id)) continue;
      this.rows.delete(id);
      removed.push({ kind: r.kind, name: r.name });
      if (storedDefinition(r.definition).condition !== null) restart = true;
    }
    const removedTags = removed.filter((r) => r.kind === 'tag').map((r) => memberKey('tag', r.name));
    for (const key of before?.dependents(removedTags) ?? []) {
      const id = key.startsWith('tag:') ? `tag\u0000${key.slice(4)}` : `segment\u0000${key}`;
      const r = this.rows.get(id);
      if (r === undefined || save.includes(r)) continue;
      const next: SegmentDefinitionRow = { ...r, status: 'backfilling', cursor: 0, after: Math.max(after, r.status === 'backfilling' ? r.after : 0), updatedAt: now };
      this.rows.set(id, next);
      save.push(next);
      restart = true;
    }
    if (restart) {
      // One pass evaluates every definition: restart the running ones with the new.
      for (const [id, r] of this.rows) {
        if (r.status !== 'backfilling' || save.includes(r)) continue;
        const next = { ...r, cursor: 0, after: Math.max(r.after, after), updatedAt: now };
        this.rows.set(id, next);
        save.push(next);
      }
    }
    this.compiled = undefined;
    return { save, removed };
  }

  /** Every rule-driven row set backfilling after `after` (a rebuild re-evaluates everything once replay is done). */
  restartAll(after: number, now: number): SegmentDefinitionRow[] {
    const out: SegmentDefinitionRow[] = [];
    for (const [id, r] of this.rows) {
      if (storedDefinition(r.definition).condition === null) continue;
      const next: SegmentDefinitionRow = { ...r, status: 'backfilling', cursor: 0, after, updatedAt: now };
      this.rows.set(id, next);
      out.push(next);
    }
    return out;
  }

  /**
   * Sets the rule-driven rows with these membership keys backfilling again
   * after `after` (a trait they read was recomputed); a running backfill
   * restarts with them, so all run as one pass. Returns the rows to save.
   */
  restart(keys: ReadonlySet<string>, after: number, now: number): SegmentDefinitionRow[] {
    const out: SegmentDefinitionRow[] = [];
    for (const [id, r] of this.rows) {
      if (storedDefinition(r.definition).condition === null) continue;
      if (!keys.has(memberKey(r.kind, r.name)) && r.status !== 'backfilling') continue;
      const next: SegmentDefinitionRow = { ...r, status: 'backfilling', cursor: 0, after: Math.max(after, r.status === 'backfilling' ? r.after : 0), updatedAt: now };
      this.rows.set(id, next);
      out.push(next);
    }
    return out;
  }

  /** Records backfill progress; `done` sets the rows live. Rows whose membership key is in `skip` (not evaluated) stay as they are. Returns the rows to save. */
  advance(cursor: number, done: boolean, now: number, skip: ReadonlySet<string> = new Set()): SegmentDefinitionRow[] {
    const out: SegmentDefinitionRow[] = [];
    for (const [id, r] of this.rows) {
      if (r.status !== 'backfilling' || skip.has(memberKey(r.kind, r.name))) continue;
      const next: SegmentDefinitionRow = { ...r, cursor: done ? 0 : cursor, status: done ? 'live' : 'backfilling', updatedAt: now };
      this.rows.set(id, next);
      out.push(next);
    }
    return out;
  }
}
