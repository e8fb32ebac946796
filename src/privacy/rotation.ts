/**
 * Key rotation without downtime. `rotateKey` adds a fresh key to the key file
 * and makes it active; running processes still open what older keys sealed
 * (and pick the new key up the first time they meet a token sealed with it).
 * `reseal` re-seals stored values still under older keys, in batches, while
 * the server runs (it only re-seals: plaintext never changes, and a row the
 * engine changed meanwhile is left for the next pass). `retireKey` removes a
 * key from the file, refusing while any stored value still uses it. Stored
 * values include the per-person data keys, which are sealed with the master
 * keyring: retiring a master key that still seals one would make that
 * person's fields in the log unreadable.
 */
import type { ResolvedConfig } from '../config/index.ts';
import { Errors } from '../core/errors.ts';
import { randomUUID } from 'node:crypto';
import { isPortraitError } from '../core/errors.ts';
import { ALL_WORKSPACES } from '../storage/audit.ts';
import { openStateStore, type OpenedStore, type RewriteReport } from '../storage/index.ts';
import { Keyring, sealedKeyId } from './keyring.ts';
import { PiiSealer } from './pii-sealer.ts';
import { aadOf } from './data-keys.ts';
import { keyFileOf, loadKeyring } from './load.ts';

function fileRing(config: ResolvedConfig): { file: string; ring: Keyring } {
  if (config.privacy.masterKeys !== undefined) throw Errors.keysFromEnvironment();
  const file = keyFileOf(config);
  return { file, ring: Keyring.load(file) };
}

/** `k1`, `k2`, …: the first free one. */
function nextId(ids: readonly string[]): string {
  for (let n = ids.length + 1; ; n++) if (!ids.includes(`k${n}`)) return `k${n}`;
}

async function withStore<T>(config: ResolvedConfig, f: (store: OpenedStore) => Promise<T>): Promise<T> {
  const store = await openStateStore({ dataDir: config.dataDir, databaseUrl: config.cluster.databaseUrl });
  try {
    return await f(store);
  } finally {
    await store.close();
  }
}

/** Runs a key action and records it in the audit log as an instance-wide privacy action (status 200, or the error's). */
async function audited<T>(config: ResolvedConfig, action: string, f: () => Promise<T>): Promise<T> {
  let status = 200;
  try {
    return await f();
  } catch (e) {
    status = isPortraitError(e) ? e.status : 500;
    throw e;
  } finally {
    await withStore(config, (store) =>
      store.appendAudit([{ at: Date.now(), workspace: ALL_WORKSPACES, keyId: null, scope: 'privacy', method: 'CLI', route: `portrait privacy ${action}`, status, requestId: randomUUID() }]),
    ).catch(() => undefined);
  }
}

/** Adds a fresh key (id `id`, or the next `k<n>`) and makes it active; returns its id. */
export async function rotateKey(config: ResolvedConfig, id?: string): Promise<{ id: string; file: string; keys: string[] }> {
  return audited(config, 'rotate-key', async () => {
    const { file, ring } = fileRing(config);
    const next = ring.rotated(id ?? nextId(ring.ids()));
    next.save(file);
    return { id: next.active, file, keys: next.ids() };
  });
}

/** Re-seals every stored personal value not sealed with the active key. */
export async function reseal(config: ResolvedConfig, batch = 500): Promise<RewriteReport & { active: string; dataKeys: RewriteReport }> {
  return audited(config, 'reseal', () => resealNow(config, batch));
}

async function resealNow(config: ResolvedConfig, batch: number): Promise<RewriteReport & { active: string; dataKeys: RewriteReport }> {
  const ring = loadKeyring(config, false);
  const sealer = new PiiSealer(ring, config.privacy.piiFields);
  return withStore(config, async (store) => {
    const report = await store.rewriteSealed((ws, field, v) => sealer.reseal(ws, field, v), batch);
    const dataKeys = await store.dataKeys.rewrite((ws, subject, sealed) => (ring.isCurrent(sealed) ? undefined : ring.seal(ring.open(sealed, aadOf(ws, subject)), aadOf(ws, subject))), batch);
    return { ...report, active: ring.active, dataKeys };
  });
}

/** How many stored values (personal values and data keys) each key seals. */
export async function keyUsage(config: ResolvedConfig, batch = 1000): Promise<Map<string, number>> {
  const uses = new Map<string, number>();
  const count = (v: unknown) => {
    const id = sealedKeyId(v);
    if (id !== undefined) uses.set(id, (uses.get(id) ?? 0) + 1);
    return undefined;
  };
  await withStore(config, async (store) => {
    await store.rewriteSealed((_ws, _field, v) => count(v), batch);
    await store.dataKeys.rewrite((_ws, _subject, sealed) => count(sealed), batch);
  });
  return uses;
}

/** Removes a key from the key file; refuses (PORTRAIT_PRIVACY_KEY_IN_USE) while stored values use it. */
export async function retireKey(config: ResolvedConfig, id: string): Promise<{ file: string; keys: string[] }> {
  return audited(config, 'retire-key', async () => {
    const { file, ring } = fileRing(config);
    const next = ring.without(id);
    const n = (await keyUsage(config)).get(id) ?? 0;
    if (n > 0) throw Errors.keyInUse(id, n);
    next.save(file);
    return { file, keys: next.ids() };
  });
}
