import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Explanation } from '../segments/index.ts';
import { Masker, maskValue } from './mask.ts';

describe('masking', () => {
  it('masks emails, phones and other values as documented', () => {
    assert.equal(maskValue('email', 'ann@example.com'), 'a***@example.com', 'an email keeps its first character and domain');
    assert.equal(maskValue('phone', '+51 999 123 4567'), '***4567', 'a phone keeps its last four digits');
    assert.equal(maskValue('mobilePhone', 5551234567), '***4567', 'a numeric phone is masked as text');
    assert.equal(maskValue('phone', '12'), '***', 'a short phone hides everything');
    assert.equal(maskValue('name', 'Ann Lee'), '***', 'another string reads ***');
    assert.equal(maskValue('birthday', { y: 1990 }), '***', 'an object reads ***');
    assert.equal(maskValue('name', null), null, 'null stays null (nothing to hide)');
  });

  it('masks attributes, history, conflicts, events, raw payloads and explanations', () => {
    const m = new Masker(['email', 'name']);
    assert.deepEqual(m.attributes({ email: 'ann@example.com', city: 'Lima' }), { email: 'a***@example.com', city: 'Lima' }, 'only personal attributes');
    assert.deepEqual(m.changes({ 'attr.email': [null, 'b@x.io'], 'trait.orders': [1, 2] }), { 'attr.email': [null, 'b***@x.io'], 'trait.orders': [1, 2] }, 'history');
    assert.deepEqual(m.conflict({ attribute: 'name', kept: 'Ann', rejected: 'Bo' }), { attribute: 'name', kept: '***', rejected: '***' }, 'conflicts');
    const e = m.event({ type: 'identify', name: 'Home', traits: { name: 'Ann', address: { city: 'Lima' } }, context: { ip: '1', traits: { email: 'a@b.co' } }, properties: { nested: [{ email: 'c@d.co' }] } });
    assert.equal(e.name, 'Home', 'a page name outside traits/properties is not touched');
    assert.deepEqual(e.traits, { name: '***', address: { city: 'Lima' } }, 'traits');
    assert.deepEqual(e.context, { ip: '1', traits: { email: 'a***@b.co' } }, 'context.traits');
    assert.deepEqual(e.properties, { nested: [{ email: 'c***@d.co' }] }, 'properties at any depth');
    assert.equal(m.raw('{"traits":{"email":"z@y.com"}}'), '{"traits":{"email":"z***@y.com"}}', 'a JSON raw payload');
    assert.equal(m.raw('not json with email z@y.com'), '***', 'a non-JSON payload naming a personal field is hidden');
    const tree: Explanation = { condition: 'and', held: true, children: [{ condition: 'x', held: true, ref: 'attributes.email', value: 'a@b.co' }, { condition: 'y', held: true, ref: 'attributes.city', value: 'Lima' }] };
    const x = m.explanation(tree);
    assert.deepEqual(x.children?.map((c) => c.value), ['a***@b.co', 'Lima'], 'explanation inputs');
    const none = new Masker([]);
    const same = { traits: { email: 'a@b.co' } };
    assert.equal(none.event(same), same, 'a masker without fields (pii scope) returns its input');
  });

  it('invariant: a masked email or other string never contains the hidden part', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 2, maxLength: 30 }).filter((s) => !s.includes('@') && !s.includes('*')), fc.domain(), (local, domain) => {
        const masked = maskValue('email', `${local}@${domain}`) as string;
        assert.equal(masked, `${local[0]}***@${domain}`, 'only the first character of the local part and the domain remain');
        assert.equal(maskValue('name', local), '***', 'another string reads ***');
      }),
    );
  });
});
