import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { Keyring, isSealed } from './keyring.ts';

test('seal then open returns the plaintext, for any text and associated data', () => {
  const ring = Keyring.generate();
  fc.assert(
    fc.property(fc.string(), fc.string(), (text, aad) => {
      const token = ring.seal(text, aad);
      assert.ok(isSealed(token), `sealed token has the pe1 shape: ${token}`);
      assert.equal(ring.openText(token, aad), text, 'opened text equals the sealed text');
    }),
  );
});

test('a token does not open with other associated data, another ring, or one altered byte', () => {
  const ring = Keyring.generate();
  const token = ring.seal('alice@example.com', 'ws/email');
  assert.throws(() => ring.open(token, 'ws/phone'), { code: 'PORTRAIT_PRIVACY_UNSEALABLE' }, 'other associated data fails');
  assert.throws(() => Keyring.generate().open(token, 'ws/email'), { code: 'PORTRAIT_PRIVACY_UNSEALABLE' }, 'a ring with another key k1 fails');
  const parts = token.split('.');
  const body = Buffer.from(parts[3]!, 'base64url');
  body[0] = body[0]! ^ 1;
  const altered = [parts[0], parts[1], parts[2], body.toString('base64url')].join('.');
  assert.throws(() => ring.open(altered, 'ws/email'), { code: 'PORTRAIT_PRIVACY_UNSEALABLE' }, 'an altered byte fails');
  assert.throws(() => ring.open('plain text'), { code: 'PORTRAIT_PRIVACY_UNSEALABLE' }, 'a non-token fails');
});

test('rotation: new values use the new key, old tokens still open, retiring the active key is refused', () => {
  const ring = Keyring.generate('k1');
  const old = ring.seal('v');
  const next = ring.rotated('k2');
  assert.equal(next.active, 'k2', 'the rotated ring is active on k2');
  assert.ok(next.seal('v').startsWith('pe1.k2.'), 'new tokens name k2');
  assert.equal(next.openText(old), 'v', 'a k1 token opens after rotation');
  assert.equal(next.isCurrent(old), false, 'a k1 token is not current');
  assert.throws(() => next.without('k2'), { code: 'PORTRAIT_PRIVACY_KEYRING_INVALID' }, 'retiring the active key is refused');
  const retired = next.without('k1');
  assert.throws(() => retired.open(old), { code: 'PORTRAIT_PRIVACY_UNSEALABLE' }, 'after retiring k1 its tokens no longer open');
  assert.throws(() => next.rotated('k1'), { code: 'PORTRAIT_PRIVACY_KEYRING_INVALID' }, 'a key id cannot be reused');
});

test('load: generates a 0600 file once, reads it back, and prefers keys given in the configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portrait-keyring-'));
  const file = join(dir, 'master.keys');
  const a = Keyring.load(file);
  assert.equal(statSync(file).mode & 0o777, 0o600, 'the generated key file is private');
  const b = Keyring.load(file);
  assert.deepEqual(b.toJson(), a.toJson(), 'the second load reads the same ring');
  assert.equal(b.openText(a.seal('x')), 'x', 'the reloaded ring opens the first ring tokens');
  const hex = 'ab'.repeat(32);
  const env = Keyring.load(file, `e2:${hex},e1:${'cd'.repeat(32)}`);
  assert.equal(env.active, 'e2', 'the first environment key is active');
  assert.deepEqual(env.ids().sort(), ['e1', 'e2'], 'both environment keys are in the ring');
  assert.ok(readFileSync(file, 'utf8').includes(a.active), 'the file is left as it was');
});

test('invalid key material is refused with a typed error', () => {
  for (const spec of ['', 'k1', 'k1:zz', `k1:${'ab'.repeat(31)}`, `bad id:${'ab'.repeat(32)}`, `k1:${'ab'.repeat(32)}:x`]) {
    assert.throws(() => Keyring.fromEnv(spec === '' ? ' ' : spec), { code: 'PORTRAIT_PRIVACY_KEYRING_INVALID' }, `spec "${spec}" is refused`);
  }
  assert.throws(() => Keyring.fromJson('{', 'f'), { code: 'PORTRAIT_PRIVACY_KEYRING_INVALID' }, 'broken JSON is refused');
  assert.throws(() => Keyring.fromJson('{"active":"x","keys":{}}', 'f'), { code: 'PORTRAIT_PRIVACY_KEYRING_INVALID' }, 'an active key not in the ring is refused');
});
