/** Which masker a request's answer goes through: none for a key with the `pii` scope, else the personal fields of the configuration. */
import { Masker } from '../privacy/index.ts';
import type { Portrait } from '../portrait/portrait.ts';
import type { Principal } from '../portrait/keys.ts';

const NONE = new Masker([]);
const byInstance = new WeakMap<Portrait, Masker>();

export function maskerFor(p: Portrait, principal: Principal): Masker {
  if (principal.scopes.has('pii')) return NONE;
  let m = byInstance.get(p);
  if (m === undefined) {
    m = new Masker(p.config.privacy.piiFields);
    byInstance.set(p, m);
  }
  return m;
}
