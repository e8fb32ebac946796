/** Privacy: the master keyring, PII sealing at rest and key rotation, masking, the audit trail (and, as they land, consent, erasure, export, retention). */
export { Keyring, isSealed, sealedKeyId, type KeyringFile } from './keyring.ts';
export { keyFileOf, loadKeyring } from './load.ts';
export { PiiSealer, piiAad } from './pii-sealer.ts';
export { Masker, maskValue, MASK } from './mask.ts';
export { AuditTrail, type AuditPage, type AuditTrailOptions } from './audit.ts';
export { rotateKey, reseal, retireKey, keyUsage } from './rotation.ts';
