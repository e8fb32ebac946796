import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Json } from '../core/event.ts';
import { emptyProfile, type ProfileDoc } from '../core/profile.ts';
import { Keyring } from '../privacy/keyring.ts';
import { PiiSealer } from '../privacy/pii-sealer.ts';
import { openDoc, sealChanges, sealDoc } from './sealer.ts';

function docWith(attributes: Record<string, Json>): ProfileDoc {
  const d = emptyProfile('p_1', 'w', 'user', 1);
  for (const [k, v] of Object.entries(attributes)) d.attributes[k] = { v, t: 1, id: 'm1' };
  return d;
}

const emailOf = (d: ProfileDoc) => d.attributes.email!.v as string;

describe('sealDoc', () => {
  it('writes an unchanged personal value with the token it was sealed with, and a changed one with a fresh token', () => {
    const s = new PiiSealer(Keyring.generate(), ['email']);
    const d = docWith({ email: 'a@b.co', city: 'Lima' });
    const first = sealDoc(s, d);
    assert.equal(emailOf(sealDoc(s, d)), emailOf(first), 'the same value object: the same token');
    assert.equal(sealDoc(s, d).attributes.city!.v, 'Lima', 'a field that is not personal stays plain');
    assert.equal(d.attributes.email!.v, 'a@b.co', 'the document itself is not changed');
    d.attributes.email = { v: 'c@d.co', t: 2, id: 'm2' };
    const changed = emailOf(sealDoc(s, d));
    assert.notEqual(changed, emailOf(first), 'a new value: a new token');
    assert.equal(s.open('w', 'email', changed), 'c@d.co', 'which opens to the new value');
  });

  it('keeps the token a document was read with when it is written back unchanged', () => {
    const s = new PiiSealer(Keyring.generate(), ['email']);
    const stored = JSON.parse(JSON.stringify(sealDoc(s, docWith({ email: 'a@b.co' })))) as ProfileDoc;
    const token = emailOf(stored);
    const read = openDoc(s, stored);
    assert.equal(emailOf(read), 'a@b.co', 'opened');
    assert.equal(emailOf(sealDoc(s, read)), token, 'written back with the stored token');
  });

  it('seals afresh under the new active key after a rotation, and never reuses a token across fields or workspaces', () => {
    const old = Keyring.generate('k1');
    let ring = old;
    const s = new PiiSealer(old, ['email', 'phone'], () => ring);
    const d = docWith({ email: 'a@b.co' });
    assert.match(emailOf(sealDoc(s, d)), /^pe1\.k1\./);
    ring = old.rotated('k2');
    // The sealer learns of k2 when it meets a token sealed with it.
    const t2 = new PiiSealer(ring, ['email']).seal('w', 'email', 'x@y.z');
    s.open('w', 'email', t2);
    const after = emailOf(sealDoc(s, d));
    assert.match(after, /^pe1\.k2\./, 'the value is sealed again with k2');
    assert.equal(s.open('w', 'email', after), 'a@b.co');
    // The same value object moved to another field or workspace is sealed for its new place.
    const moved = { ...docWith({}), workspace: 'other' };
    moved.attributes.phone = d.attributes.email!;
    const sealed = sealDoc(s, moved).attributes.phone!.v as string;
    assert.equal(s.open('other', 'phone', sealed), 'a@b.co', 'opens where it now is');
  });

  it('every sealed document opens to the document, whatever was sealed before (property)', () => {
    const s = new PiiSealer(Keyring.generate(), ['email', 'phone']);
    const values = fc.oneof(fc.string(), fc.integer(), fc.constant(null));
    fc.assert(
      fc.property(fc.array(fc.record({ field: fc.constantFrom('email', 'phone', 'city'), v: values, replace: fc.boolean() }), { maxLength: 20 }), (steps) => {
        const d = docWith({});
        for (const st of steps) {
          const existing = d.attributes[st.field];
          if (st.replace || existing === undefined) d.attributes[st.field] = { v: st.v, t: 1, id: 'm' };
          const stored = JSON.parse(JSON.stringify(sealDoc(s, d))) as ProfileDoc;
          for (const f of ['email', 'phone'] as const) {
            if (d.attributes[f] !== undefined) assert.match(String(stored.attributes[f]!.v), /^pe1\./, `${f} is stored as a token`);
          }
          assert.deepEqual(openDoc(s, stored), d, 'opens to the document');
        }
      }),
    );
  });
});

describe('sealChanges', () => {
  it('seals the personal attribute values of history changes and leaves the rest (and the input) as they are', () => {
    const s = new PiiSealer(Keyring.generate(), ['email']);
    const changes = { 'attr.email': ['a@b.co', 'c@d.co'], 'attr.city': [undefined, 'Lima'], 'trait.orders': [1, 2] } as Record<string, [Json | undefined, Json | undefined]>;
    const out = sealChanges(s, 'w', changes);
    assert.deepEqual(changes['attr.email'], ['a@b.co', 'c@d.co'], 'input unchanged');
    assert.equal(s.open('w', 'email', out['attr.email']![1]!), 'c@d.co');
    assert.deepEqual(out['attr.city'], [undefined, 'Lima']);
    assert.deepEqual(out['trait.orders'], [1, 2]);
    const traitsOnly = { 'trait.orders': [1, 2] } as Record<string, [Json | undefined, Json | undefined]>;
    assert.equal(sealChanges(s, 'w', traitsOnly), traitsOnly, 'no personal value: the same object');
  });
});
