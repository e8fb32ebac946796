/**
 * Identity types shared by the identity graph, the store and the API.
 * An identifier key is `<kind>:<value>`: `user:42`, `anon:9f…`, `email:<keyed hash>`,
 * `ext:<type>:<id>`, `group:<id>`.
 */

export type IdentifierKind = 'user' | 'anon' | 'email' | 'ext' | 'group';

export function identKey(kind: IdentifierKind, value: string): string {
  return `${kind}:${value}`;
}

export function identKind(key: string): IdentifierKind {
  return key.slice(0, key.indexOf(':')) as IdentifierKind;
}

export function identValue(key: string): string {
  const i = key.indexOf(':');
  if (key.startsWith('ext:')) return key.slice(key.indexOf(':', i + 1) + 1);
  return key.slice(i + 1);
}

/** An edge of the identity graph: why two identifiers belong to one profile. */
export interface IdentityLink {
  workspace: string;
  a: string;
  b: string;
  /** identify, alias, track … : the message type that made the link. */
  via: string;
  position: number;
  messageId: string;
  time: number;
}

/**
 * A recorded identity change: `merge` folds profile `from` into `into`;
 * `unmerge` splits `from` off `into` when the link a–b is removed.
 */
export interface MergeRecord {
  kind: 'merge' | 'unmerge';
  workspace: string;
  into: string;
  from: string;
  /** The identifiers whose link caused the merge. */
  a: string;
  b: string;
  position: number;
  messageId: string;
  time: number;
}

export type IdentityConflictReason = 'different_user_ids' | 'anonymous_cap' | 'unlinked';

/** A link the guards refused. */
export interface IdentityConflict {
  workspace: string;
  reason: IdentityConflictReason;
  a: string;
  b: string;
  profileA: string;
  profileB: string;
  position: number;
  messageId: string;
  time: number;
}

/** The user and anonymous ids among identifier keys: what the log is searched by. */
export function logIdsOf(identifiers: readonly string[]): { userIds: string[]; anonymousIds: string[] } {
  const userIds: string[] = [];
  const anonymousIds: string[] = [];
  for (const i of identifiers) {
    if (i.startsWith('user:')) userIds.push(i.slice(5));
    else if (i.startsWith('anon:')) anonymousIds.push(i.slice(5));
  }
  return { userIds, anonymousIds };
}
