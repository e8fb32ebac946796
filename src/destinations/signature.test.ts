import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { signatureHeader, verifySignature } from './signature.ts';

const SECRET = 'whsec_0123456789abcdef';
const NOW = Date.UTC(2026, 10, 1);
const T = Math.floor(NOW / 1000);
const BODY = '{"id":"hook:1","type":"segment.entered"}';

test('a signature made for a body verifies against that body, as a string or as bytes', () => {
  const h = signatureHeader(SECRET, T, BODY);
  assert.match(h, /^t=\d+,v1=[0-9a-f]{64}$/, 'header shape');
  assert.deepEqual(verifySignature(SECRET, h, BODY, { now: NOW }), { ok: true, timestamp: T }, 'string body');
  assert.equal(verifySignature(SECRET, h, Buffer.from(BODY), { now: NOW }).ok, true, 'byte body');
});

test('a changed body, another secret, an old timestamp or a malformed header do not verify', () => {
  const h = signatureHeader(SECRET, T, BODY);
  const reason = (r: ReturnType<typeof verifySignature>) => (r.ok ? 'ok' : r.reason);
  assert.equal(reason(verifySignature(SECRET, h, BODY.replace('entered', 'exited'), { now: NOW })), 'signature mismatch', 'tampered body');
  assert.equal(reason(verifySignature('another-secret-xxxxxx', h, BODY, { now: NOW })), 'signature mismatch', 'wrong secret');
  assert.equal(reason(verifySignature(SECRET, h, BODY, { now: NOW + 301_000 })), 'timestamp outside the tolerance', 'replayed later');
  assert.equal(verifySignature(SECRET, h, BODY, { now: NOW + 301_000, toleranceSec: 600 }).ok, true, 'a wider tolerance accepts it');
  assert.equal(reason(verifySignature(SECRET, undefined, BODY, { now: NOW })), 'no signature header', 'missing header');
  assert.equal(reason(verifySignature(SECRET, `v1=${'0'.repeat(64)}`, BODY, { now: NOW })), 'no timestamp (t=) in the header', 'no t');
  assert.equal(reason(verifySignature(SECRET, `t=${T}`, BODY, { now: NOW })), 'no v1 signature in the header', 'no v1');
  // The timestamp is signed too: moving it breaks the signature.
  assert.equal(reason(verifySignature(SECRET, h.replace(`t=${T}`, `t=${T + 1}`), BODY, { now: NOW })), 'signature mismatch', 'moved timestamp');
});

test('during a secret rotation a header may carry several v1 values; one match is enough', () => {
  const h = signatureHeader(SECRET, T, BODY);
  const old = signatureHeader('old-secret-0123456789', T, BODY).split(',')[1];
  assert.equal(verifySignature(SECRET, `${h},${old}`, BODY, { now: NOW }).ok, true, 'new secret among two');
});
