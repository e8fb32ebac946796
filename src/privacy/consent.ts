/**
 * Consent over the API: checking a `{ purpose: boolean }` body and reading
 * a profile's decisions per configured purpose. The decisions reach the log
 * as an identify with `context.consent` (see portrait/api-identify.ts).
 */
import { Errors, type Problem } from '../core/errors.ts';
import type { ProfileDoc } from '../core/profile.ts';
import { consentViews, type ConsentView } from '../profile/index.ts';

/** Checks a consent body; throws PORTRAIT_CONSENT_INVALID listing every problem. */
export function readConsentInput(raw: unknown, purposes: readonly string[]): Record<string, boolean> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw Errors.invalidConsent([{ path: '', message: 'must be an object of purposes to true or false' }]);
  }
  const known = new Set(purposes);
  const problems: Problem[] = [];
  const out: Record<string, boolean> = {};
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length === 0) problems.push({ path: '', message: `names no purpose (configured: ${purposes.join(', ')})` });
  for (const [k, v] of entries) {
    if (!known.has(k)) problems.push({ path: `/${k}`, message: `unknown purpose (configured: ${purposes.join(', ')})` });
    else if (typeof v !== 'boolean') problems.push({ path: `/${k}`, message: `must be true or false, not ${JSON.stringify(v)}` });
    else out[k] = v;
  }
  if (problems.length > 0) throw Errors.invalidConsent(problems);
  return out;
}

/** Every configured purpose with the profile's decision, or `granted: false` and no decision. */
export interface ConsentReading {
  profileId: string | null;
  purposes: Record<string, ConsentView | { granted: false }>;
}

export function consentReading(doc: ProfileDoc | undefined, purposes: readonly string[]): ConsentReading {
  const views = doc === undefined ? {} : consentViews(doc);
  const out: ConsentReading['purposes'] = {};
  for (const p of [...purposes].sort()) out[p] = Object.hasOwn(views, p) ? views[p]! : { granted: false };
  return { profileId: doc?.id ?? null, purposes: out };
}
