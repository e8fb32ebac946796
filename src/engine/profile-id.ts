/**
 * Deterministic profile ids: a rebuild from the same log names profiles the
 * same way. A person's id begins with the time their first event arrived, in
 * an alphabet whose byte order is the numeric order, so profiles created
 * together sit together in every table keyed by profile id (the profiles,
 * segment members, schedules): a commit of new profiles writes a few
 * neighbouring pages instead of one page per profile.
 */
import { hash } from 'node:crypto';

/** 64 symbols in ascending byte order (SQLite compares ids as bytes). */
const ORDERED = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
const TIME_CHARS = 7;
/** 64^7 ms: times up to the year 2109 keep their order; later ones are clamped. */
const TIME_LIMIT = 64 ** TIME_CHARS - 1;

/** `ms` as TIME_CHARS symbols of ORDERED, most significant first. */
export function orderedTime(ms: number): string {
  let t = Math.min(TIME_LIMIT, Math.max(0, Math.floor(ms)));
  let out = '';
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ORDERED[t % 64]! + out;
    t = Math.floor(t / 64);
  }
  return out;
}

/**
 * The id of a profile made for `ident` at log `position`: `p_` or `g_` and 20
 * characters. With `createdAt` (when the event that makes it arrived; for a
 * profile a partition takes over, when its source event happened), 7 of them
 * are that time and 13 a hash of workspace, identifier and position; without
 * it (groups, whose id depends on their name alone), all 20 are the hash.
 */
export function profileIdFor(prefix: 'p' | 'g', workspace: string, ident: string, position: number, createdAt?: number): string {
  // One-shot hashing: the same SHA-256 as a Hash object, without creating one per new profile.
  const h = hash('sha256', `${workspace}\u0000${ident}\u0000${position}`, 'base64url');
  return createdAt === undefined ? `${prefix}_${h.slice(0, 20)}` : `${prefix}_${orderedTime(createdAt)}${h.slice(0, 13)}`;
}
