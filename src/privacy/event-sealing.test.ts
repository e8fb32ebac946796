import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Json, JsonObject, PortraitEvent } from '../core/event.ts';
import { identifiersOf } from '../identity/index.ts';
import { emailHasher, emailReferencer } from '../ingest/index.ts';
import { hasSealedFields, openEvent, sealEvent } from './event-sealing.ts';

const FIELDS = new Set(['email', 'phone', 'address']);

const json: fc.Arbitrary<Json> = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }));
const key = fc.constantFrom('email', 'phone', 'address', 'plan', 'city', 'total');
const inner: fc.Arbitrary<JsonObject> = fc.dictionary(key, json, { maxKeys: 4, noNullPrototype: true });
const container: fc.Arbitrary<JsonObject> = fc.dictionary(key, fc.oneof(json, inner), { maxKeys: 5, noNullPrototype: true });
const event: fc.Arbitrary<PortraitEvent> = fc.record({ traits: container, properties: container, ctx: container }).map(({ traits, properties, ctx }) => ({
  type: 'identify',
  workspace: 'w',
  messageId: 'm1',
  userId: 'u1',
  traits,
  properties,
  context: { traits: ctx, ip: '1.2.3.4' },
  timestamp: 1,
  receivedAt: 1,
}));

/** Every value stored under a personal field name, at the top of a container or one level down. */
function personalValues(e: PortraitEvent): Json[] {
  const out: Json[] = [];
  for (const c of [e.traits, e.properties, e.context?.traits as JsonObject | undefined]) {
    for (const [k, v] of Object.entries(c ?? {})) {
      if (FIELDS.has(k)) out.push(v);
      else if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [k2, v2] of Object.entries(v)) if (FIELDS.has(k2)) out.push(v2);
    }
  }
  return out;
}

test('sealing then opening with the same key gives the event back, for any event', () => {
  const k = randomBytes(32);
  fc.assert(
    fc.property(event, (e) => {
      const copy = structuredClone(e);
      const sealed = sealEvent(e, FIELDS, k);
      assert.deepEqual(e, copy, 'the original event is not changed');
      assert.equal(hasSealedFields(sealed), personalValues(e).length > 0, 'sealed fields exist exactly when personal fields did');
      assert.ok(personalValues(sealed).every((v) => typeof v === 'string' && v.startsWith('pd1.')), 'every personal value is a token');
      assert.deepEqual(openEvent(sealed, k), e, 'opening restores the event');
    }),
  );
});

test('opening without the key (or with another) removes the personal fields, marks the event shredded, keeps the rest', () => {
  fc.assert(
    fc.property(event, fc.boolean(), (e, other) => {
      const sealed = sealEvent(e, FIELDS, randomBytes(32));
      const opened = openEvent(sealed, other ? randomBytes(32) : undefined);
      assert.deepEqual(personalValues(opened), [], 'no personal value is left');
      const had = personalValues(e).length > 0;
      assert.equal(opened.context?.shredded, had ? true : undefined, 'marked shredded exactly when something was removed');
      const strip = (x: PortraitEvent) => JSON.stringify({ ...x, context: { ...x.context, shredded: undefined } }, (k, v: unknown) => (FIELDS.has(k) ? undefined : v));
      assert.equal(strip(opened), strip(e), 'everything but the personal fields reads as stored');
    }),
  );
});

test('a token moved to another event or field does not open', () => {
  const k = randomBytes(32);
  const e: PortraitEvent = { type: 'identify', workspace: 'w', messageId: 'm1', userId: 'u', traits: { email: 'a@b.c', phone: '123' }, timestamp: 1, receivedAt: 1 };
  const sealed = sealEvent(e, FIELDS, k);
  const moved: PortraitEvent = { ...sealed, messageId: 'm2' };
  assert.equal(openEvent(moved, k).traits?.email, undefined, 'a token bound to m1 fails in m2');
  const swapped: PortraitEvent = { ...sealed, traits: { email: sealed.traits!.phone!, phone: sealed.traits!.email! } };
  assert.deepEqual(openEvent(swapped, k).traits, {}, 'tokens swapped between fields fail');
});

test('a value that only looks like a token is left as sent', () => {
  const e: PortraitEvent = { type: 'track', workspace: 'w', messageId: 'm', userId: 'u', properties: { note: 'pd1.hello.world', email: 'a@b.c' }, timestamp: 1, receivedAt: 1 };
  const opened = openEvent(sealEvent(e, FIELDS, randomBytes(32)), undefined);
  assert.equal(opened.properties?.note, 'pd1.hello.world', 'a look-alike string is not removed');
  assert.equal(opened.properties?.email, undefined, 'the real token is');
});

test("a shredded email the identity graph links by leaves its reference: the event links to the email's identity as before, and nothing else of it stays", () => {
  const hashKey = randomBytes(32);
  const hash = emailHasher(hashKey);
  const reference = emailReferencer(hashKey);
  fc.assert(
    fc.property(fc.emailAddress(), fc.emailAddress(), fc.constantFrom('traits', 'context', 'both'), (a, b, where) => {
      const e: PortraitEvent = {
        type: 'identify',
        workspace: 'w',
        messageId: 'm1',
        anonymousId: 'a1',
        ...(where !== 'context' && { traits: { email: a } }),
        properties: { email: b },
        context: { ip: '1.2.3.4', ...(where !== 'traits' && { traits: { email: where === 'both' ? b : a } }) },
        timestamp: 1,
        receivedAt: 1,
      };
      const before = identifiersOf(e, hash);
      const sealed = sealEvent(e, FIELDS, randomBytes(32), reference);
      const shredded = openEvent(sealed, undefined);
      assert.deepEqual(shredded.context?.traits ?? {}, {}, 'no address stays');
      assert.equal(shredded.traits?.email, undefined);
      assert.equal(shredded.properties?.email, undefined, 'a property email is shredded (it links nothing, so leaves nothing)');
      assert.ok(!JSON.stringify(shredded).includes(a) && !JSON.stringify(shredded).includes(b), 'neither address is in the shredded event');
      assert.deepEqual(identifiersOf(shredded, hash), before, 'the same identifiers, the email first found first');
      assert.deepEqual(openEvent(sealed, Buffer.alloc(32)).context?.shreddedEmail, shredded.context?.shreddedEmail, 'a wrong key shreds the same way');
    }),
  );
});

test('a reference written into an event by a sender links nothing unless genuine, and a token with it opens as any other', () => {
  const hashKey = randomBytes(32);
  const hash = emailHasher(hashKey);
  const ref = emailReferencer(hashKey)('w', 'victim@example.com')!;
  const forged = `pdh.${hash('w', 'victim@example.com')}.${'A'.repeat(22)}`;
  const e: PortraitEvent = { type: 'track', workspace: 'w', messageId: 'm', anonymousId: 'a1', event: 'x', context: { shreddedEmail: forged }, timestamp: 1, receivedAt: 1 };
  assert.deepEqual(identifiersOf(e, hash).linked, [], 'a forged reference links nothing');
  const k = randomBytes(32);
  const withRef: PortraitEvent = { type: 'identify', workspace: 'w', messageId: 'm', userId: 'u', traits: { email: 'victim@example.com' }, timestamp: 1, receivedAt: 1 };
  const sealed = sealEvent(withRef, FIELDS, k, emailReferencer(hashKey));
  assert.ok((sealed.traits!.email as string).endsWith(ref.slice(3)), 'the token carries the reference');
  assert.deepEqual(openEvent(sealed, k), withRef, 'with its key it opens to the event as sent');
});
