/**
 * API keys. A key reads `<id>.<secret>`; only a SHA-256 of the secret is
 * stored, and it is compared in constant time. A key carries scopes (see
 * SCOPES); every key belongs to one workspace.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { PortraitError } from '../core/errors.ts';
import type { ApiKeyRow, StateStore } from '../storage/index.ts';

/**
 * write: ingest. read: profiles and records, personal values masked. pii: personal
 * values unmasked (with read). admin: definitions, destinations, keys-level actions
 * and the audit log. privacy: erasure, export and consent (the privacy routes).
 */
export const SCOPES = ['write', 'read', 'pii', 'admin', 'privacy'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  id: string;
  workspace: string;
  scopes: Scope[];
  label: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface Principal {
  keyId: string;
  workspace: string;
  scopes: ReadonlySet<Scope>;
}

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest();

function toApiKey(r: ApiKeyRow): ApiKey {
  return {
    id: r.id,
    workspace: r.workspace,
    scopes: r.scopes as Scope[],
    label: r.label,
    createdAt: new Date(r.createdAt).toISOString(),
    revokedAt: r.revokedAt === null ? null : new Date(r.revokedAt).toISOString(),
  };
}

export class Keys {
  constructor(private readonly store: StateStore, private readonly now: () => number) {}

  /** Creates a key; the returned `key` string is shown once and never stored. */
  async create(workspace: string, scopes: readonly string[], label = ''): Promise<{ key: string; info: ApiKey }> {
    const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
    if (bad.length > 0 || scopes.length === 0) {
      throw new PortraitError('PORTRAIT_KEY_INVALID_SCOPE', `Unknown or missing scopes: ${bad.join(', ') || '(none)'}. Use one or more of: ${SCOPES.join(', ')}.`, 400);
    }
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(workspace)) {
      throw new PortraitError('PORTRAIT_KEY_INVALID_WORKSPACE', `Workspace "${workspace}" is not a valid name: use 1–64 letters, digits, "_" or "-".`, 400);
    }
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    const row: ApiKeyRow = { id, workspace, secretHash: hashSecret(secret), scopes: [...new Set(scopes)], label, createdAt: this.now(), revokedAt: null };
    await this.store.saveKey(row);
    return { key: `${id}.${secret}`, info: toApiKey(row) };
  }

  async list(workspace?: string): Promise<ApiKey[]> {
    return (await this.store.keys(workspace)).map(toApiKey);
  }

  async revoke(id: string): Promise<void> {
    if (!(await this.store.revokeKey(id, this.now()))) {
      throw new PortraitError('PORTRAIT_KEY_NOT_FOUND', `No active key has id "${id}". List the keys to see their ids.`, 404);
    }
  }

  /** The principal a presented key stands for, or undefined when it is unknown, revoked or wrong. */
  async authenticate(presented: string): Promise<Principal | undefined> {
    const dot = presented.indexOf('.');
    if (dot <= 0) return undefined;
    const row = await this.store.key(presented.slice(0, dot));
    const given = hashSecret(presented.slice(dot + 1));
    // Compare even for an unknown id, so timing does not tell which ids exist.
    const expected = row?.secretHash ?? Buffer.alloc(given.length);
    const same = timingSafeEqual(given, expected.length === given.length ? expected : Buffer.alloc(given.length));
    if (!row || !same || row.revokedAt !== null) return undefined;
    return { keyId: row.id, workspace: row.workspace, scopes: new Set(row.scopes as Scope[]) };
  }
}
