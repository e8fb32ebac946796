/**
 * The master keyring: AES-256-GCM keys with ids, one of them active. Personal
 * data is sealed with the active key; any key still in the ring opens what it
 * sealed, so a rotation (add a key, make it active, re-seal at leisure) needs
 * no downtime. Keys come from `privacy.masterKeys` (PORTRAIT_MASTER_KEYS) or a key file; a data
 * directory without either gets a generated file (mode 0600) on first start.
 *
 * A sealed value is one ASCII token: `pe1.<keyId>.<iv>.<ciphertext+tag>`
 * (base64url parts). Associated data binds a token to where it belongs (for
 * example the workspace and field), so a token copied elsewhere fails to open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Errors } from '../core/errors.ts';
import { pooledRandom } from './random-pool.ts';

const PREFIX = 'pe1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

export interface KeyringFile {
  /** Id of the key new values are sealed with. */
  active: string;
  /** Key id → 32-byte key, hex. */
  keys: Record<string, string>;
}

export class Keyring {
  private readonly keys: ReadonlyMap<string, Buffer>;

  constructor(
    readonly active: string,
    keys: ReadonlyMap<string, Buffer>,
  ) {
    for (const [id, k] of keys) {
      if (!KEY_ID.test(id)) throw Errors.keyringInvalid(`key id "${id}" must be 1-32 letters, digits, "_" or "-"`);
      if (k.length !== 32) throw Errors.keyringInvalid(`key "${id}" must be 32 bytes (64 hex digits), not ${k.length} bytes`);
    }
    if (!keys.has(active)) throw Errors.keyringInvalid(`the active key "${active}" is not in the ring`);
    this.keys = keys;
  }

  /** A ring of one fresh random key (tests, in-memory instances). */
  static generate(id = 'k1'): Keyring {
    return new Keyring(id, new Map([[id, randomBytes(32)]]));
  }

  /** `id:hex,id:hex,…`; the first key is the active one. */
  static fromEnv(spec: string): Keyring {
    const entries = spec
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (entries.length === 0) throw Errors.keyringInvalid('PORTRAIT_MASTER_KEYS is empty; give "id:64 hex digits", comma-separated, active key first');
    const keys = new Map<string, Buffer>();
    for (const e of entries) {
      const [id, hex, extra] = e.split(':');
      if (id === undefined || hex === undefined || extra !== undefined || !/^[0-9a-fA-F]{64}$/.test(hex)) {
        throw Errors.keyringInvalid('each PORTRAIT_MASTER_KEYS entry must be "id:64 hex digits"');
      }
      keys.set(id, Buffer.from(hex, 'hex'));
    }
    return new Keyring(entries[0]!.split(':')[0]!, keys);
  }

  static fromJson(text: string, origin: string): Keyring {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw Errors.keyringInvalid(`${origin} is not JSON`);
    }
    const f = parsed as Partial<KeyringFile> | null;
    if (f === null || typeof f !== 'object' || typeof f.active !== 'string' || f.keys === null || typeof f.keys !== 'object') {
      throw Errors.keyringInvalid(`${origin} must hold {"active": "<id>", "keys": {"<id>": "<64 hex digits>"}}`);
    }
    const keys = new Map<string, Buffer>();
    for (const [id, hex] of Object.entries(f.keys)) {
      if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) throw Errors.keyringInvalid(`${origin}: key "${id}" must be 64 hex digits`);
      keys.set(id, Buffer.from(hex, 'hex'));
    }
    return new Keyring(f.active, keys);
  }

  /**
   * The ring from `spec` (`privacy.masterKeys`, set from PORTRAIT_MASTER_KEYS)
   * when given, else from `file`, which is created with one generated key when absent.
   */
  static load(file: string, spec?: string): Keyring {
    if (spec !== undefined && spec !== '') return Keyring.fromEnv(spec);
    if (existsSync(file)) return Keyring.fromJson(readFileSync(file, 'utf8'), file);
    const ring = Keyring.generate();
    ring.save(file);
    return ring;
  }

  /** Writes the ring to a file (mode 0600), atomically. */
  save(file: string): void {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.toJson(), null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  }

  toJson(): KeyringFile {
    const keys: Record<string, string> = {};
    for (const [id, k] of this.keys) keys[id] = k.toString('hex');
    return { active: this.active, keys };
  }

  has(id: string): boolean {
    return this.keys.has(id);
  }

  ids(): string[] {
    return [...this.keys.keys()];
  }

  /** A new ring with one more, fresh key, which becomes the active one. */
  rotated(id: string): Keyring {
    if (this.keys.has(id)) throw Errors.keyringInvalid(`key id "${id}" is already in the ring`);
    return new Keyring(id, new Map([...this.keys, [id, randomBytes(32)]]));
  }

  /** A new ring without a retired key (never the active one). */
  without(id: string): Keyring {
    if (id === this.active) throw Errors.keyringInvalid(`"${id}" is the active key; rotate to another key before retiring it`);
    if (!this.keys.has(id)) throw Errors.keyringInvalid(`key id "${id}" is not in the ring`);
    const keys = new Map(this.keys);
    keys.delete(id);
    return new Keyring(this.active, keys);
  }

  seal(plaintext: string | Buffer, aad = ''): string {
    const key = this.keys.get(this.active)!;
    const iv = pooledRandom(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([c.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), c.final(), c.getAuthTag()]);
    return `${PREFIX}.${this.active}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /** Opens a sealed token; throws PORTRAIT_PRIVACY_UNSEALABLE when the key is gone or the token was altered or moved. */
  open(token: string, aad = ''): Buffer {
    const parts = token.split('.');
    if (parts.length !== 4 || parts[0] !== PREFIX) throw Errors.unsealable('not a sealed value');
    const key = this.keys.get(parts[1]!);
    if (key === undefined) throw Errors.unsealable(`key "${parts[1]}" is not in the ring`);
    const iv = Buffer.from(parts[2]!, 'base64url');
    const body = Buffer.from(parts[3]!, 'base64url');
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw Errors.unsealable('truncated token');
    try {
      const d = createDecipheriv('aes-256-gcm', key, iv);
      d.setAAD(Buffer.from(aad, 'utf8'));
      d.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([d.update(body.subarray(0, body.length - TAG_BYTES)), d.final()]);
    } catch {
      throw Errors.unsealable('authentication failed (altered token, or sealed for another place)');
    }
  }

  openText(token: string, aad = ''): string {
    return this.open(token, aad).toString('utf8');
  }

  /** True when the token was sealed with the active key (false: re-seal it after a rotation). */
  isCurrent(token: string): boolean {
    return token.startsWith(`${PREFIX}.${this.active}.`);
  }
}

/** The id of the key that sealed a token (undefined when it is not a token). */
export function sealedKeyId(v: unknown): string | undefined {
  return isSealed(v) ? v.split('.')[1] : undefined;
}

/** True when a value looks like a sealed token. */
export function isSealed(v: unknown): v is string {
  return typeof v === 'string' && v.startsWith(`${PREFIX}.`) && v.split('.').length === 4;
}
