/**
 * Merge guards: links that would over-merge are refused and recorded.
 * - Two profiles that each hold a user id never merge implicitly (a shared
 *   anonymous id, email or external id is not enough); only an explicit alias may.
 * - A profile holds at most `maxAnonymousIds` anonymous ids.
 */
import type { IdentityConflictReason } from '../core/identity.ts';

export interface GuardOptions {
  maxAnonymousIds: number;
}

function counts(idents: readonly string[]): { users: number; anons: number } {
  let users = 0;
  let anons = 0;
  for (const i of idents) {
    if (i.startsWith('user:')) users++;
    else if (i.startsWith('anon:')) anons++;
  }
  return { users, anons };
}

/** Why joining the identifier sets `a` and `b` is refused, or undefined when it is allowed. */
export function refuseJoin(a: readonly string[], b: readonly string[], explicit: boolean, opts: GuardOptions): IdentityConflictReason | undefined {
  const ca = counts(a);
  const cb = counts(b);
  if (!explicit && ca.users > 0 && cb.users > 0) return 'different_user_ids';
  if (ca.anons + cb.anons > opts.maxAnonymousIds) return 'anonymous_cap';
  return undefined;
}
