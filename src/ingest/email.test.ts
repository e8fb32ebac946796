import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { resolveIdentifier } from '../portrait/identifiers.ts';
import { emailHasher, emailReferencer, identityHash, normalizeEmail, workspaceIdentityKey } from './email.ts';

describe('normalizeEmail', () => {
  it('trims and lower-cases an address', () => {
    assert.equal(normalizeEmail('  Ada.Lovelace@Example.COM \n'), 'ada.lovelace@example.com');
  });

  it('keeps plus tags and dots: they may be different people', () => {
    assert.equal(normalizeEmail('a.b+news@gmail.com'), 'a.b+news@gmail.com');
  });

  it('gives one spelling for composed and decomposed accents', () => {
    assert.equal(normalizeEmail('Jose\u0301@example.com'), normalizeEmail('jos\u00e9@example.com'));
  });

  it('returns undefined for what does not look like local@domain', () => {
    for (const bad of ['', '   ', 'ada', '@example.com', 'ada@', 'ada@example', 'a@b@example.com', 'ada lovelace@example.com', 'ada@.com', 'ada@example.', 'ada@example..com', `${'a'.repeat(250)}@example.com`]) {
      assert.equal(normalizeEmail(bad), undefined, `accepted ${JSON.stringify(bad)}`);
    }
  });

  it('returns undefined for values that are not strings', () => {
    for (const bad of [undefined, null, 42, {}, ['a@example.com']]) assert.equal(normalizeEmail(bad), undefined);
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(fc.oneof(fc.emailAddress(), fc.string()), (s) => {
        const once = normalizeEmail(s);
        if (once !== undefined) assert.equal(normalizeEmail(once), once);
      }),
    );
  });

  it('accepts generated addresses', () => {
    fc.assert(fc.property(fc.emailAddress(), (s) => assert.equal(normalizeEmail(s), s.toLowerCase())));
  });
});

describe('identityHash', () => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');

  it('is the first 32 base64url characters of HMAC-SHA256 under the key', () => {
    const expected = createHmac('sha256', key).update('ada@example.com').digest('base64url').slice(0, 32);
    assert.equal(identityHash(key, 'ada@example.com'), expected);
    assert.match(identityHash(key, 'ada@example.com'), /^[A-Za-z0-9_-]{32}$/);
  });

  it('is stable for a value and differs between values and between keys', () => {
    assert.equal(identityHash(key, 'ada@example.com'), identityHash(key, 'ada@example.com'));
    assert.notEqual(identityHash(key, 'ada@example.com'), identityHash(key, 'bob@example.com'));
    assert.notEqual(identityHash(key, 'ada@example.com'), identityHash(Buffer.from('another key'), 'ada@example.com'));
  });
});

describe('emailHasher (per-workspace identity keys)', () => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  const hash = emailHasher(key);

  it('hashes one address differently in every workspace, and never with the instance key itself', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z]{1,12}$/), fc.stringMatching(/^[a-z]{1,12}$/), (a, b) => {
        fc.pre(a !== b);
        assert.notEqual(hash(a, 'ada@example.com'), hash(b, 'ada@example.com'), `workspaces ${a} and ${b} hash apart`);
        assert.equal(hash(a, ' Ada@Example.com'), hash(a, 'ada@example.com'), 'normalised before hashing');
      }),
    );
    assert.notEqual(hash('w', 'ada@example.com'), identityHash(key, 'ada@example.com'), 'the workspace key is derived, not the instance key');
    assert.equal(hash('w', 'not an email'), undefined, 'a non-address hashes to nothing');
    assert.equal(hash('w', 42), undefined, 'a non-string hashes to nothing');
  });

  it('agrees with the lookup by email of the profile routes', () => {
    assert.deepEqual(resolveIdentifier('email', 'Ada@Example.com', key, 'w'), { kind: 'ident', key: `email:${hash('w', 'ada@example.com')}` }, 'the same key the engine links');
    assert.equal(workspaceIdentityKey(key, 'w').length, 32, 'a 256-bit derived key');
  });
});

describe('emailReferencer (what a shredded email leaves behind)', () => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  const hash = emailHasher(key);
  const reference = emailReferencer(key);

  it("a reference hashes to its address's hash, in its own workspace only", () => {
    fc.assert(
      fc.property(fc.emailAddress(), fc.constantFrom('w', 'v'), (email, ws) => {
        const ref = reference(ws, email)!;
        assert.match(ref, /^pdh\.[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{22}$/);
        assert.equal(hash(ws, ref), hash(ws, email), 'the same identity key as the address');
        assert.equal(hash(ws === 'w' ? 'v' : 'w', ref), undefined, "another workspace's reference is not honoured");
        assert.equal(reference(ws, ref), ref, 'a genuine reference is its own reference');
      }),
    );
  });

  it('a forged reference (a hash with a MAC made without the key) is no email at all', () => {
    const ref = reference('w', 'ada@example.com')!;
    const [, h, mac] = ref.split('.');
    const flipped = `${mac![0] === 'A' ? 'B' : 'A'}${mac!.slice(1)}`;
    assert.equal(hash('w', `pdh.${h}.${flipped}`), undefined, 'a changed MAC');
    const other = hash('w', 'bob@example.com')!;
    assert.equal(hash('w', `pdh.${other}.${mac}`), undefined, "another address's hash under this MAC");
    assert.equal(hash('w', `pdh.${h}`), undefined, 'no MAC');
    assert.equal(reference('w', 'not an email'), undefined, 'a non-address has no reference');
    assert.equal(emailHasher(Buffer.from('another instance key, 32 bytes.'))('w', ref), undefined, "another instance's reference");
  });
});
