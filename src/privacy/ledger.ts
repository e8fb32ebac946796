/**
 * The erasure ledger as users read it: one entry per erasure with its
 * times, the key that asked and the rows removed per kind. No personal data.
 */
import type { ErasureRow } from '../storage/index.ts';

export interface LedgerEntry {
  id: string;
  workspace: string;
  status: 'pending' | 'completed';
  requestedAt: string;
  completedAt: string | null;
  /** The API key that asked; null when the CLI or the library did. */
  requestedBy: string | null;
  /**
   * Rows removed per kind: profiles, identities, identityLinks, blockedLinks,
   * merges, identityConflicts, attributeConflicts, historyRows,
   * segmentMemberships, membershipHistory, schedule, manualTags, outboxRows,
   * deliveries, deadLetters, quarantine, events, modelTrainingRows (always 0:
   * no models exist yet).
   */
  removed: Record<string, number>;
}

export function ledgerEntry(r: ErasureRow): LedgerEntry {
  return {
    id: r.id,
    workspace: r.workspace,
    status: r.status,
    requestedAt: new Date(r.requestedAt).toISOString(),
    completedAt: r.completedAt === null ? null : new Date(r.completedAt).toISOString(),
    requestedBy: r.keyId,
    removed: r.counts,
  };
}
