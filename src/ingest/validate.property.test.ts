import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../core/clock.ts';
import { EVENT_TYPES } from '../core/event.ts';
import { parseBatch, parseMessage, type ParseResult } from './index.ts';

const NOW = Date.UTC(2024, 4, 1, 12);
const opts = { workspace: 'ws1', clock: new ManualClock(NOW) };

/** What every result must satisfy, whatever the input. */
function assertWellFormed(r: ParseResult): void {
  if (r.ok) {
    const e = r.event;
    assert.ok((EVENT_TYPES as readonly string[]).includes(e.type), '(EVENT_TYPES as readonly string[]).includes(e.type)');
    assert.equal(e.workspace, 'ws1');
    assert.ok(typeof e.messageId === 'string' && e.messageId.length > 0, 'typeof e.messageId === \'string\' && e.messageId.length > 0');
    assert.ok(e.userId !== undefined || e.anonymousId !== undefined, 'an event has userId or anonymousId');
    for (const id of [e.userId, e.anonymousId, e.previousId, e.groupId]) {
      if (id !== undefined) assert.ok(typeof id === 'string' && id.length > 0 && id.length <= 1024, `bad id ${JSON.stringify(id)}`);
    }
    for (const t of [e.timestamp, e.receivedAt]) assert.ok(Number.isFinite(t));
    for (const t of [e.originalTimestamp, e.sentAt]) if (t !== undefined) assert.ok(Number.isFinite(t));
    if (e.type === 'track') assert.ok(typeof e.event === 'string' && e.event.length > 0);
    if (e.type === 'alias') assert.ok(e.previousId !== undefined && e.userId !== undefined);
    if (e.type === 'group') assert.ok(e.groupId !== undefined);
    for (const o of [e.properties, e.traits, e.context]) {
      if (o !== undefined) assert.ok(typeof o === 'object' && o !== null && !Array.isArray(o));
    }
  } else {
    assert.ok(r.problems.length >= 1, 'r.problems.length >= 1');
    for (const p of r.problems) {
      assert.equal(typeof p.path, 'string');
      assert.ok(p.path === '' || p.path.startsWith('/'), `path ${p.path}`);
      assert.ok(typeof p.message === 'string' && p.message.length > 0, 'typeof p.message === \'string\' && p.message.length > 0');
    }
    assert.equal(new Set(r.problems.map((p) => p.path)).size, r.problems.length, 'one problem per path');
  }
}

const anything = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
});

const id = fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
const time = fc.oneof(
  fc.date({ min: new Date(0), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.integer({ min: 0, max: 4_102_444_800_000 }),
);
const object = fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 });
const context = fc.record(
  {
    ip: fc.ipV4(),
    traits: object,
    externalIds: fc.array(fc.record({ id: fc.string({ minLength: 1, maxLength: 20 }), type: fc.constantFrom('email', 'phone', 'crm') }), { maxLength: 3 }),
  },
  { requiredKeys: [] },
);
const common = {
  messageId: fc.string({ maxLength: 40 }),
  timestamp: time,
  originalTimestamp: time,
  sentAt: time,
  context,
  integrations: fc.constant({ All: true }),
  properties: object,
  traits: object,
  extra: fc.jsonValue({ maxDepth: 1 }),
};
const withIds = <T,>(arb: fc.Arbitrary<T>) =>
  fc
    .tuple(arb, fc.option(id, { nil: undefined }), id)
    .map(([m, userId, anonymousId]) => ({ ...m, ...(userId === undefined ? { anonymousId } : { userId }) }));

/** Valid Segment messages of every type. */
const validMessage: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  withIds(fc.record({ type: fc.constant('track'), event: fc.string({ minLength: 1, maxLength: 40 }), ...common }, { requiredKeys: ['type', 'event'] })),
  withIds(fc.record({ type: fc.constant('identify'), ...common }, { requiredKeys: ['type'] })),
  fc.record({ type: fc.constant('alias'), previousId: id, userId: id, ...common }, { requiredKeys: ['type', 'previousId', 'userId'] }),
  withIds(fc.record({ type: fc.constant('group'), groupId: id, ...common }, { requiredKeys: ['type', 'groupId'] })),
  withIds(fc.record({ type: fc.constantFrom('page', 'screen'), name: fc.string(), ...common }, { requiredKeys: ['type'] })),
);

const FIELDS = ['type', 'event', 'messageId', 'userId', 'anonymousId', 'previousId', 'groupId', 'name', 'timestamp', 'originalTimestamp', 'sentAt', 'receivedAt', 'context', 'properties', 'traits', 'integrations'];

/** A valid message with some fields replaced by arbitrary values or removed; sometimes inside context. */
const mutatedMessage = fc
  .tuple(
    validMessage,
    fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.option(fc.oneof(anything, id, time, fc.constant('')), { nil: undefined })), { minLength: 1, maxLength: 4 }),
    fc.option(fc.tuple(fc.constantFrom('traits', 'externalIds'), anything), { nil: undefined }),
  )
  .map(([m, edits, contextEdit]) => {
    const out: Record<string, unknown> = { ...m };
    for (const [k, v] of edits) {
      if (v === undefined) delete out[k];
      else out[k] = v;
    }
    if (contextEdit) out.context = { ...(typeof out.context === 'object' ? out.context : {}), [contextEdit[0]]: contextEdit[1] };
    return out;
  });

describe('parseMessage properties', () => {
  it('never throws on arbitrary JavaScript values, and always returns an event or problems', () => {
    fc.assert(fc.property(anything, (raw) => assertWellFormed(parseMessage(raw, opts))), { numRuns: 2000 });
  });

  it('never throws on arbitrary JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), (raw) => assertWellFormed(parseMessage(raw, opts))), { numRuns: 2000 });
  });

  it('never throws on arbitrary objects that have a valid type', () => {
    fc.assert(
      fc.property(fc.constantFrom(...EVENT_TYPES), fc.dictionary(fc.constantFrom(...FIELDS), anything), (type, rest) =>
        assertWellFormed(parseMessage({ ...rest, type }, opts)),
      ),
      { numRuns: 2000 },
    );
  });

  it('never throws on random mutations of valid messages', () => {
    fc.assert(fc.property(mutatedMessage, (raw) => assertWellFormed(parseMessage(raw, opts))), { numRuns: 3000 });
  });

  it('accepts every valid message, with ids as strings and times skew-corrected', () => {
    fc.assert(
      fc.property(validMessage, (raw) => {
        const r = parseMessage(raw, opts);
        assertWellFormed(r);
        assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
        const e = r.event;
        assert.equal(e.type, raw.type);
        if (raw.userId !== undefined) assert.equal(e.userId, String(raw.userId));
        if (raw.anonymousId !== undefined) assert.equal(e.anonymousId, String(raw.anonymousId));
        if (raw.messageId) assert.equal(e.messageId, raw.messageId);
        const client = raw.originalTimestamp ?? raw.timestamp;
        const ms = (t: unknown) => (typeof t === 'string' ? Date.parse(t) : (t as number));
        const expected =
          client === undefined ? NOW : raw.sentAt === undefined ? ms(client) : NOW - (ms(raw.sentAt) - ms(client));
        assert.equal(e.timestamp, expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('gives the same result for the same message (deterministic given clock and ids)', () => {
    fc.assert(
      fc.property(mutatedMessage, (raw) => {
        const o = { ...opts, newId: () => 'id' };
        assert.deepEqual(parseMessage(raw, o), parseMessage(raw, o));
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseBatch properties', () => {
  it('never throws, and returns one well-formed result per message, in order', () => {
    const body = fc.oneof(
      anything,
      fc.record({ batch: fc.array(fc.oneof(validMessage, mutatedMessage, anything), { maxLength: 8 }), sentAt: fc.oneof(time, anything), context: fc.oneof(context, anything) }, { requiredKeys: ['batch'] }),
    );
    fc.assert(
      fc.property(body, (raw) => {
        const r = parseBatch(raw, opts);
        if (r.ok) {
          assert.equal(r.results.length, (raw as { batch: unknown[] }).batch.length);
          r.results.forEach(assertWellFormed);
          for (const [i, res] of r.results.entries()) {
            const m = (raw as { batch: unknown[] }).batch[i];
            if (res.ok) assert.equal(res.event.type, (m as { type: unknown }).type);
          }
        } else {
          assert.ok(r.problems.length >= 1, 'r.problems.length >= 1');
        }
      }),
      { numRuns: 1000 },
    );
  });
});
