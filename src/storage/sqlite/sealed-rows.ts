/**
 * The rows of a commit that need the sealer, encoded as stored (personal
 * values sealed, JSON text), so that the thread holding the sealer can encode
 * them while another thread writes them (sqlite-commit-thread.ts).
 */
import type { ProfileDoc } from '../../core/profile.ts';
import { sealConflictValue, sealDoc, type ValueSealer } from '../sealer.ts';
import type { AttributeConflict, Changeset } from '../store.ts';

/** workspace, id, document text. */
export type SealedProfileRow = [string, string, string];

/** The attribute_conflicts columns in insert order, kept and rejected as stored text. */
export type SealedConflictRow = [string, string, string, string, string, string, number, string];

/** A changeset without the parts written from sealed rows. */
export type CommitRest = Omit<Changeset, 'profiles' | 'history' | 'attributeConflicts'>;

/** Profiles in key order: writing in that order keeps B-tree page writes local (far fewer pages per commit). Sorts in place. */
export function sortedProfiles(profiles: ProfileDoc[]): ProfileDoc[] {
  return profiles.sort((a, b) => (a.workspace !== b.workspace ? (a.workspace < b.workspace ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function sealProfiles(sealer: ValueSealer | undefined, profiles: readonly ProfileDoc[]): SealedProfileRow[] {
  return profiles.map((p) => [p.workspace, p.id, JSON.stringify(sealDoc(sealer, p))]);
}

export function sealConflicts(sealer: ValueSealer | undefined, conflicts: readonly AttributeConflict[]): SealedConflictRow[] {
  return conflicts.map((x) => [
    x.workspace,
    x.profileId,
    x.attribute,
    x.reason,
    JSON.stringify(sealConflictValue(sealer, x, x.kept)),
    JSON.stringify(sealConflictValue(sealer, x, x.rejected)),
    x.position,
    x.messageId,
  ]);
}

/** The changeset without its profiles, history and attribute conflicts (a shallow copy). */
export function restOf(c: Changeset): CommitRest {
  const { profiles: _p, history: _h, attributeConflicts: _a, ...rest } = c;
  return rest;
}
