/**
 * Which identifiers an event carries, and which one owns it. The owner is the
 * user id when present, else the anonymous id: the same rule the log uses to
 * find a profile's events, so a replay attributes every event exactly as the
 * stream did.
 */
import { groupIdsOf, type PortraitEvent } from '../core/event.ts';
import { identKey } from '../core/identity.ts';

export interface EventIdentifiers {
  owner: string;
  /** Identifiers the event links to its owner, in a fixed order. */
  linked: string[];
  /** alias: the previous id, to be resolved as a known user id, else a known anonymous id, else a user id. */
  aliasPrevious?: string;
  /** The identifiers of the group profiles the event counts for (a group call's group, and the accounts it is attributed to: see `groupIdsOf`). */
  groups?: string[];
}

/** Where an event's email is read from, first found first: the order `identifiersOf` reads them in (sealing keeps a reference for these). */
export const EMAIL_PATHS = ['traits.email', 'context.traits.email'] as const;

/**
 * The context field an event whose email was shredded carries instead: the
 * email's reference (see src/privacy/event-sealing.ts), which `EmailHasher`
 * turns into the email's hash when it is genuine.
 */
export const SHREDDED_EMAIL = 'shreddedEmail';

/** Hashes an email with a workspace's identity key (or a genuine shredded email's reference); undefined when the value is neither. */
export type EmailHasher = (workspace: string, email: unknown) => string | undefined;

export function identifiersOf(e: PortraitEvent, hashEmail: EmailHasher): EventIdentifiers {
  const owner = e.userId !== undefined ? identKey('user', e.userId) : identKey('anon', e.anonymousId!);
  const linked: string[] = [];
  if (e.userId !== undefined && e.anonymousId !== undefined) linked.push(identKey('anon', e.anonymousId));
  const email = hashEmail(e.workspace, e.traits?.email) ?? hashEmail(e.workspace, contextTraits(e)?.email) ?? hashEmail(e.workspace, e.context?.[SHREDDED_EMAIL]);
  if (email !== undefined) linked.push(identKey('email', email));
  const ext = e.context?.externalIds;
  if (Array.isArray(ext)) {
    for (const x of ext) {
      if (x && typeof x === 'object' && !Array.isArray(x) && typeof x.id === 'string' && typeof x.type === 'string' && x.id !== '' && x.type !== '') {
        linked.push(`ext:${x.type.toLowerCase()}:${x.id}`);
      }
    }
  }
  const out: EventIdentifiers = { owner, linked };
  if (e.type === 'alias' && e.previousId !== undefined && e.previousId !== e.userId) out.aliasPrevious = e.previousId;
  const groups = groupIdsOf(e);
  if (groups.length > 0) out.groups = groups.map((g) => identKey('group', g));
  return out;
}

function contextTraits(e: PortraitEvent): Record<string, unknown> | undefined {
  const t = e.context?.traits;
  return t && typeof t === 'object' && !Array.isArray(t) ? (t as Record<string, unknown>) : undefined;
}
