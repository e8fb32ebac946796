import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Keyring } from './keyring.ts';
import { PiiSealer } from './pii-sealer.ts';

describe('PiiSealer', () => {
  it('round-trips any JSON value of a personal field, and the token holds no plaintext', () => {
    const s = new PiiSealer(Keyring.generate(), ['email']);
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ minLength: 1, maxLength: 20 }), (v, ws) => {
        const token = s.seal(ws, 'email', v as never);
        assert.deepEqual(s.open(ws, 'email', token), JSON.parse(JSON.stringify(v)), 'opens to the value');
        if (typeof v === 'string' && v.length > 3) assert.ok(!token.includes(v), 'the token does not show the value');
      }),
    );
  });

  it('binds a token to its workspace and field', () => {
    const s = new PiiSealer(Keyring.generate(), ['email', 'phone']);
    const token = s.seal('w1', 'email', 'a@b.co');
    assert.throws(() => s.open('w2', 'email', token), (e: { code?: string }) => e.code === 'PORTRAIT_PRIVACY_UNSEALABLE', 'another workspace');
    assert.throws(() => s.open('w1', 'phone', token), (e: { code?: string }) => e.code === 'PORTRAIT_PRIVACY_UNSEALABLE', 'another field');
  });

  it('reads plaintext stored before sealing, old tokens of a field no longer personal, and look-alikes as they are', () => {
    const ring = Keyring.generate();
    const before = new PiiSealer(ring, ['email']);
    const token = before.seal('w', 'email', 'a@b.co');
    const after = new PiiSealer(ring, []);
    assert.equal(after.open('w', 'email', token), 'a@b.co', 'a token of a field dropped from the list still opens');
    assert.equal(after.open('w', 'note', 'pe1.k1.abc.def'), 'pe1.k1.abc.def', 'a plain value that looks like a token stays as it is');
    assert.equal(before.open('w', 'email', 'plain@old.co'), 'plain@old.co', 'a value stored before sealing reads as it is');
    assert.throws(() => before.open('w', 'email', `${token.slice(0, -2)}AA`), (e: { code?: string }) => e.code === 'PORTRAIT_PRIVACY_UNSEALABLE', 'an altered token of a personal field is an error, never silently wrong');
  });

  it('reloads the ring once for a key it does not know, then seals with the new active key', () => {
    const old = Keyring.generate('k1');
    const rotated = old.rotated('k2');
    let reloads = 0;
    const running = new PiiSealer(old, ['email'], () => {
      reloads++;
      return rotated;
    });
    const fresh = new PiiSealer(rotated, ['email']);
    const t2 = fresh.seal('w', 'email', 'x@y.z');
    assert.equal(running.open('w', 'email', t2), 'x@y.z', 'a token under the new key opens after a reload');
    assert.equal(reloads, 1, 'one reload');
    assert.match(running.seal('w', 'email', 'x@y.z'), /^pe1\.k2\./, 'it now seals with k2');
    assert.equal(running.reseal('w', 'email', t2), undefined, 'a current token needs no re-seal');
    const t1 = new PiiSealer(old, ['email']).seal('w', 'email', 'x@y.z');
    const resealed = running.reseal('w', 'email', t1)!;
    assert.match(resealed, /^pe1\.k2\./, 'an old token is re-sealed under k2');
    assert.equal(running.open('w', 'email', resealed), 'x@y.z', 'with the same plaintext');
  });
});
