/**
 * Personal data at rest: the values of the attributes named in
 * `privacy.piiFields` are sealed with the master keyring before they reach a
 * table, with associated data binding each token to its workspace and field
 * (a token copied to another profile field or workspace does not open).
 */
import type { Json } from '../core/event.ts';
import type { ValueSealer } from '../storage/sealer.ts';
import { isSealed, sealedKeyId, type Keyring } from './keyring.ts';

/** The associated data of a sealed attribute value. */
export function piiAad(workspace: string, field: string): string {
  return `portrait/pii\u0000${workspace}\u0000${field}`;
}

export class PiiSealer implements ValueSealer {
  private readonly fields: ReadonlySet<string>;

  /**
   * `reload` reads the keyring again (from its file): a token sealed under a key
   * this process does not know yet (added by `portrait privacy rotate-key` while
   * it runs) makes it reload once, and from then on it seals with the new active key.
   */
  constructor(
    private keyring: Keyring,
    fields: Iterable<string>,
    private readonly reload?: () => Keyring,
  ) {
    this.fields = new Set(fields);
  }

  /** The ring in use (it changes when a reload finds new keys). */
  get ring(): Keyring {
    return this.keyring;
  }

  private ringFor(token: string): Keyring {
    const id = sealedKeyId(token);
    if (id !== undefined && !this.keyring.has(id) && this.reload !== undefined) {
      const fresh = this.reload();
      if (fresh.has(id)) this.keyring = fresh;
    }
    return this.keyring;
  }

  sealed(field: string): boolean {
    return this.fields.has(field);
  }

  seal(workspace: string, field: string, v: Json): string {
    return this.keyring.seal(JSON.stringify(v), piiAad(workspace, field));
  }

  open(workspace: string, field: string, stored: Json): Json {
    // Values stored before the field was declared personal stay readable as they are.
    if (!isSealed(stored)) return stored;
    if (this.fields.has(field)) return JSON.parse(this.ringFor(stored).openText(stored, piiAad(workspace, field))) as Json;
    // A field no longer declared personal: its old tokens still open; a plain value that merely looks like one stays as it is.
    try {
      return JSON.parse(this.ringFor(stored).openText(stored, piiAad(workspace, field))) as Json;
    } catch {
      return stored;
    }
  }

  current(token: string): boolean {
    return this.keyring.isCurrent(token);
  }

  /** A stored token re-sealed under the active key (the plaintext does not change); undefined when it is current or not sealed. */
  reseal(workspace: string, field: string, stored: Json): string | undefined {
    if (!isSealed(stored) || this.keyring.isCurrent(stored)) return undefined;
    return this.keyring.seal(this.ringFor(stored).open(stored, piiAad(workspace, field)), piiAad(workspace, field));
  }
}
