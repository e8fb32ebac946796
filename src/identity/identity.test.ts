import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { PortraitEvent } from '../core/event.ts';
import { componentOf, identifiersOf, refuseJoin } from './index.ts';

const base: PortraitEvent = { type: 'track', workspace: 'w', messageId: 'm', timestamp: 0, receivedAt: 0 };

describe('identifiersOf', () => {
  it('owner is the user id when present, else the anonymous id', () => {
    assert.equal(identifiersOf({ ...base, userId: 'u', anonymousId: 'a' }, () => undefined).owner, 'user:u');
    assert.equal(identifiersOf({ ...base, anonymousId: 'a' }, () => undefined).owner, 'anon:a');
  });

  it('links anonymous id, hashed email and external ids; alias and group are reported apart', () => {
    const ids = identifiersOf(
      {
        ...base,
        type: 'alias',
        userId: 'u',
        anonymousId: 'a',
        previousId: 'old',
        context: { traits: { email: 'x@y.z' }, externalIds: [{ id: '7', type: 'CRM' }, { id: '', type: 'bad' }] },
      },
      (ws, v) => (typeof v === 'string' ? `h(${ws},${v})` : undefined),
    );
    assert.deepEqual(ids.linked, ['anon:a', 'email:h(w,x@y.z)', 'ext:crm:7'], "the email is hashed with the event's workspace");
    assert.equal(ids.aliasPrevious, 'old');
    assert.deepEqual(identifiersOf({ ...base, type: 'group', userId: 'u', groupId: 'g' }, () => undefined).groups, ['group:g']);
    assert.equal(identifiersOf({ ...base, type: 'track', userId: 'u', event: 'x' }, () => undefined).groups, undefined, 'no group: none');
    const attributed = identifiersOf({ ...base, type: 'group', userId: 'u', groupId: 'g', context: { groupId: 7, groups: { company: 'acme', project: 'g', bad: null, empty: '' } } }, () => undefined);
    assert.deepEqual(attributed.groups, ['group:7', 'group:acme', 'group:g'], 'the group call, context.groupId (a number as text) and context.groups, once each; unusable values ignored');
  });
});

describe('refuseJoin', () => {
  const opts = { maxAnonymousIds: 2 };
  it('refuses joining two user ids implicitly, allows it explicitly', () => {
    assert.equal(refuseJoin(['user:a'], ['user:b', 'anon:x'], false, opts), 'different_user_ids');
    assert.equal(refuseJoin(['user:a'], ['user:b'], true, opts), undefined);
    assert.equal(refuseJoin(['user:a'], ['anon:x'], false, opts), undefined);
  });
  it('refuses exceeding the anonymous id cap', () => {
    assert.equal(refuseJoin(['anon:1', 'anon:2'], ['anon:3'], false, opts), 'anonymous_cap');
  });
});

describe('componentOf', () => {
  it('splits a spanning tree in two when one link is removed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 30 }), fc.infiniteStream(fc.nat()), fc.nat(), (n, parents, cut) => {
        const idents = Array.from({ length: n }, (_, i) => `i:${i}`);
        // A random spanning tree: node i > 0 links to some earlier node.
        const links = idents.slice(1).map((id, k) => ({ a: idents[parents.next().value % (k + 1)]!, b: id }));
        const removed = links[cut % links.length]!;
        const rest = links.filter((l) => l !== removed);
        const sideA = componentOf(removed.a, idents, rest);
        const sideB = componentOf(removed.b, idents, rest);
        assert.ok(!sideA.includes(removed.b), '!sideA.includes(removed.b)');
        assert.equal(sideA.length + sideB.length, n);
        assert.deepEqual([...sideA, ...sideB].sort(), [...idents].sort());
      }),
    );
  });
});
