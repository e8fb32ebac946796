/**
 * The identifiers a partition has seen erased (its own erase records and the
 * `forget` records of other partitions' erasures), as keyed hashes with the
 * log position of the erasure. Positions are stream sequences shared by all
 * partitions, so a record made from an event appended before the erasure
 * (a forwarded event, a link, a handover) is recognised wherever it lands
 * afterwards, and dropped: it would recreate the person there.
 */
import { scoped, type ErasedIdentifier } from '../storage/index.ts';

export class ErasedIdentifiers {
  private readonly rows = new Map<string, ErasedIdentifier>();
  /** Rows changed since the last `take` (written with the next commit). */
  private readonly changed = new Set<ErasedIdentifier>();

  constructor(private readonly hash: (workspace: string, identKey: string) => string) {}

  /** Replaces what is held by the committed rows (at start, and after a failed commit). */
  load(rows: readonly ErasedIdentifier[]): void {
    this.rows.clear();
    this.changed.clear();
    for (const r of rows) this.rows.set(scoped(r.workspace, r.hash), { ...r });
  }

  /** Identifiers erased at `position` (a later erasure of the same identifier moves its position on). */
  add(workspace: string, identKeys: readonly string[], position: number): void {
    this.addHashes(
      workspace,
      identKeys.map((k) => this.hash(workspace, k)),
      position,
    );
  }

  /** The same, given the identifiers' keyed hashes (an erase record's). */
  addHashes(workspace: string, hashes: readonly string[], position: number): void {
    for (const hash of hashes) {
      const key = scoped(workspace, hash);
      const row = this.rows.get(key);
      if (row !== undefined && row.position >= position) continue;
      const next = { workspace, hash, position, dropped: row?.dropped ?? 0 };
      this.rows.set(key, next);
      if (row !== undefined) this.changed.delete(row);
      this.changed.add(next);
    }
  }

  /**
   * Whether a record made from log position `origin` and naming these
   * identifiers comes from before the erasure of one of them: it is then
   * dropped, and counted on that identifier's row.
   */
  drops(workspace: string, identKeys: Iterable<string>, origin: number): boolean {
    return this.dropsAt(workspace, identKeys, origin) !== undefined;
  }

  /** The same, giving the log position of the erasure that drops it (undefined: not dropped). */
  dropsAt(workspace: string, identKeys: Iterable<string>, origin: number): number | undefined {
    const row = this.erasedAfter(workspace, identKeys, origin);
    if (row === undefined) return undefined;
    row.dropped++;
    this.changed.add(row);
    return row.position;
  }

  /** Whether an event at `origin` naming these identifiers comes from before the erasure of one of them (not counted). */
  names(workspace: string, identKeys: Iterable<string>, origin: number): boolean {
    return this.erasedAfter(workspace, identKeys, origin) !== undefined;
  }

  /** The keyed hash an identifier is kept under (the suppression list's). */
  hashOf(workspace: string, identKey: string): string {
    return this.hash(workspace, identKey);
  }

  /** Whether one of these identifiers was erased here, whenever. */
  holds(workspace: string, identKeys: Iterable<string>): boolean {
    return this.erasedAfter(workspace, identKeys, -1) !== undefined;
  }

  private erasedAfter(workspace: string, identKeys: Iterable<string>, origin: number): ErasedIdentifier | undefined {
    if (this.rows.size === 0) return undefined;
    for (const k of identKeys) {
      const row = this.rows.get(scoped(workspace, this.hash(workspace, k)));
      if (row !== undefined && origin < row.position) return row;
    }
    return undefined;
  }

  /** The rows changed since the last call (for the commit that holds the changes). */
  take(): ErasedIdentifier[] {
    const out = [...this.changed].map((r) => ({ ...r }));
    this.changed.clear();
    return out;
  }
}
