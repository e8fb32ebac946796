/**
 * The rights of the person as the server and the CLI call them: erasure
 * (request, wait, ledger) and export. Erasure runs on the embedded SQLite
 * store and log; elsewhere it answers PORTRAIT_NOT_ON_THIS_BACKEND (501).
 */
import type { Clock } from '../core/clock.ts';
import { Errors } from '../core/errors.ts';
import type { ProfileDoc } from '../core/profile.ts';
import type { StateStore } from '../storage/index.ts';
import type { EventLog } from '../log/index.ts';
import { requestErasure } from './erasure.ts';
import { buildExport, type ExportSections, type ExportSource, type PersonExport } from './export.ts';
import { ledgerEntry, type LedgerEntry } from './ledger.ts';
import type { SuppressionList } from './suppression.ts';

export interface PrivacyDeps {
  store: StateStore;
  log: EventLog;
  clock: Clock;
  suppression: SuppressionList;
  defaultWorkspace: string;
  /** Partitions of a partitioned log (cluster.partitions), to route erase records to the profile's partition. */
  partitions: number;
  /** The profile holding an identifier in a workspace. */
  resolve: (idType: string, id: string, workspace: string) => Promise<ProfileDoc | undefined>;
  /** Resolves once the engine has processed everything appended so far. */
  drain: () => Promise<void>;
  reads: ExportSource;
  /** Checkpoints and vacuums the log file (embedded). */
  compactLog?: () => void;
}

export class PrivacyApi {
  /** Export sections other parts fill in (consents). */
  readonly sections: ExportSections = {};

  constructor(private readonly d: PrivacyDeps) {}

  private ws(workspace: string | undefined): string {
    return workspace ?? this.d.defaultWorkspace;
  }

  private privacyStore() {
    if (this.d.store.privacy === undefined) throw Errors.notOnThisBackend('Erasure', 'this state store keeps no erasure ledger');
    return this.d.store.privacy;
  }

  /**
   * Erases the person holding an identifier: suppresses their identifiers at
   * once, and has the engine remove their profile, events and everything
   * derived. Resolves to the pending ledger entry (see `waitFor`).
   */
  async erase(idType: string, id: string, o: { workspace?: string; keyId?: string | null; suppress?: boolean } = {}): Promise<LedgerEntry> {
    this.privacyStore();
    const workspace = this.ws(o.workspace);
    if (idType === 'group_id') throw Errors.groupNotErasable(`group_id ${id}`);
    const doc = await this.d.resolve(idType, id, workspace);
    if (doc === undefined) throw Errors.profileNotFound(idType, id);
    if (doc.kind === 'group') throw Errors.groupNotErasable(`Profile ${doc.id}`);
    const row = await requestErasure(
      { workspace, profileId: doc.id, identKeys: doc.identifiers, keyId: o.keyId ?? null, now: this.d.clock.now(), suppress: o.suppress ?? true },
      { store: this.d.store, log: this.d.log, suppression: this.d.suppression, partitions: this.d.partitions },
    );
    return ledgerEntry(row);
  }

  /** One ledger entry (404 when unknown in the workspace). */
  async erasure(id: string, o: { workspace?: string } = {}): Promise<LedgerEntry> {
    const row = await this.privacyStore().erasure(this.ws(o.workspace), id);
    if (row === undefined) throw Errors.erasureNotFound(id);
    return ledgerEntry(row);
  }

  /** The ledger, newest first. */
  async erasures(o: { workspace?: string; limit?: number; before?: string } = {}): Promise<LedgerEntry[]> {
    const rows = await this.privacyStore().erasures(this.ws(o.workspace), { limit: o.limit ?? 100, before: o.before });
    return rows.map(ledgerEntry);
  }

  /** Waits until the engine has carried out the erasure, then returns its ledger entry. */
  async waitFor(id: string, o: { workspace?: string } = {}): Promise<LedgerEntry> {
    await this.erasure(id, o);
    await this.d.drain();
    return this.erasure(id, o);
  }

  /** Everything held on the person holding an identifier (404 when none). */
  async export(idType: string, id: string, o: { workspace?: string } = {}): Promise<PersonExport> {
    const out = await buildExport(this.d.reads, idType, id, { workspace: this.ws(o.workspace), now: this.d.clock.now(), sections: this.sections });
    if (out === undefined) throw Errors.profileNotFound(idType, id);
    return out;
  }

  /**
   * Checkpoints the WAL files and vacuums both databases, so that deleted
   * rows leave no copy anywhere in the data directory. Call it when idle:
   * it waits for the engine and takes each file's write lock for a moment.
   */
  async compact(): Promise<void> {
    const privacy = this.privacyStore();
    await this.d.drain();
    this.d.compactLog?.();
    await privacy.compact();
  }
}
