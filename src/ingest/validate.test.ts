import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HOUR, ManualClock } from '../core/clock.ts';
import type { Problem } from '../core/errors.ts';
import type { PortraitEvent } from '../core/event.ts';
import { parseBatch, parseMessage, type ParseOptions, type ParseResult } from './index.ts';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);

function options(extra: Partial<ParseOptions> = {}): ParseOptions {
  let n = 0;
  return { workspace: 'ws1', clock: new ManualClock(NOW), newId: () => `generated-${++n}`, ...extra };
}

function event(result: ParseResult): PortraitEvent {
  if (!result.ok) assert.fail(`expected a valid message, got ${JSON.stringify(result.problems)}`);
  return result.event;
}

function problems(result: ParseResult): Problem[] {
  if (result.ok) assert.fail(`expected problems, got the event ${JSON.stringify(result.event)}`);
  return result.problems;
}

/** The problem at `path`; fails unless there is exactly one. */
function problemAt(result: ParseResult, path: string): Problem {
  const found = problems(result).filter((p) => p.path === path);
  assert.equal(found.length, 1, `one problem at "${path}" in ${JSON.stringify(problems(result))}`);
  return found[0]!;
}

describe('parseMessage: the six message types', () => {
  it('track: keeps the event name, properties and context', () => {
    const properties = { total: 39.9, currency: 'EUR' };
    const context = { ip: '203.0.113.7', traits: { plan: 'pro' } };
    const e = event(parseMessage({ type: 'track', event: 'Order Completed', userId: 'u1', messageId: 'm1', properties, context }, options()));
    assert.deepEqual(e, {
      type: 'track',
      workspace: 'ws1',
      messageId: 'm1',
      userId: 'u1',
      event: 'Order Completed',
      properties,
      context,
      timestamp: NOW,
      receivedAt: NOW,
    });
  });

  it('identify: keeps the traits', () => {
    const e = event(parseMessage({ type: 'identify', userId: 'u1', traits: { email: 'ada@example.com' } }, options()));
    assert.equal(e.type, 'identify');
    assert.deepEqual(e.traits, { email: 'ada@example.com' });
  });

  it('alias: keeps previousId beside userId', () => {
    const e = event(parseMessage({ type: 'alias', previousId: 'anon-1', userId: 'u1' }, options()));
    assert.equal(e.previousId, 'anon-1');
    assert.equal(e.userId, 'u1');
  });

  it('group: keeps groupId and the group traits', () => {
    const e = event(parseMessage({ type: 'group', groupId: 'acme', anonymousId: 'a1', traits: { employees: 40 } }, options()));
    assert.equal(e.groupId, 'acme');
    assert.deepEqual(e.traits, { employees: 40 });
  });

  it('page and screen: keep the name, which is optional', () => {
    assert.equal(event(parseMessage({ type: 'page', name: 'Pricing', anonymousId: 'a1' }, options())).name, 'Pricing');
    assert.equal(event(parseMessage({ type: 'screen', name: 'Home', anonymousId: 'a1' }, options())).name, 'Home');
    assert.equal('name' in event(parseMessage({ type: 'page', anonymousId: 'a1' }, options())), false);
    assert.equal('name' in event(parseMessage({ type: 'screen', anonymousId: 'a1', name: null }, options())), false);
  });

  it('ignores unknown top-level fields, integrations and a client-sent receivedAt', () => {
    const e = event(
      parseMessage({ type: 'identify', userId: 'u1', integrations: { All: true }, writeKey: 'k', receivedAt: '2000-01-01T00:00:00Z', version: 2 }, options()),
    );
    assert.deepEqual(Object.keys(e).sort(), ['messageId', 'receivedAt', 'timestamp', 'type', 'userId', 'workspace']);
    assert.equal(e.receivedAt, NOW);
  });

  it('does not copy or change the raw message', () => {
    const raw = { type: 'track', event: 'E', userId: 'u1', properties: { a: 1 } };
    const snapshot = structuredClone(raw);
    const e = event(parseMessage(raw, options()));
    assert.deepEqual(raw, snapshot);
    assert.equal(e.properties, raw.properties);
  });
});

describe('parseMessage: identifiers', () => {
  it('converts numeric ids to strings, as Segment does', () => {
    const e = event(parseMessage({ type: 'identify', userId: 42, anonymousId: 7.5 }, options()));
    assert.equal(e.userId, '42');
    assert.equal(e.anonymousId, '7.5');
    const alias = event(parseMessage({ type: 'alias', previousId: 1, userId: 2 }, options()));
    assert.equal(alias.previousId, '1');
    assert.equal(event(parseMessage({ type: 'group', groupId: 99, userId: 'u' }, options())).groupId, '99');
  });

  it('accepts anonymousId alone, and treats an empty or null userId as absent', () => {
    const e = event(parseMessage({ type: 'page', anonymousId: 'a1', userId: '' }, options()));
    assert.equal(e.anonymousId, 'a1');
    assert.equal('userId' in e, false);
    assert.equal('userId' in event(parseMessage({ type: 'page', anonymousId: 'a1', userId: null }, options())), false);
  });

  it('generates a messageId when the client sent none (or an empty one)', () => {
    const opts = options();
    assert.equal(event(parseMessage({ type: 'track', event: 'E', userId: 'u' }, opts)).messageId, 'generated-1');
    assert.equal(event(parseMessage({ type: 'track', event: 'E', userId: 'u', messageId: '' }, opts)).messageId, 'generated-2');
    assert.equal(event(parseMessage({ type: 'track', event: 'E', userId: 'u', messageId: 'm-9' }, opts)).messageId, 'm-9');
  });

  it('generates random UUIDs by default', () => {
    const { newId: _, ...opts } = options();
    const a = event(parseMessage({ type: 'track', event: 'E', userId: 'u' }, opts)).messageId;
    const b = event(parseMessage({ type: 'track', event: 'E', userId: 'u' }, opts)).messageId;
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(a, b);
  });
});

describe('parseMessage: times', () => {
  it('uses the arrival time as event time when the message carries none', () => {
    const e = event(parseMessage({ type: 'track', event: 'E', userId: 'u' }, options()));
    assert.equal(e.timestamp, NOW);
    assert.equal(e.receivedAt, NOW);
    assert.equal('originalTimestamp' in e, false);
    assert.equal('sentAt' in e, false);
  });

  it('stamps arrival from opts.receivedAt, else from the clock', () => {
    const e = event(parseMessage({ type: 'track', event: 'E', userId: 'u' }, options({ receivedAt: 123 })));
    assert.equal(e.receivedAt, 123);
  });

  it('accepts ISO 8601 strings and epoch milliseconds', () => {
    const iso = event(parseMessage({ type: 'track', event: 'E', userId: 'u', timestamp: '2024-05-01T11:00:00+00:00' }, options()));
    const epoch = event(parseMessage({ type: 'track', event: 'E', userId: 'u', timestamp: NOW - HOUR }, options()));
    assert.equal(iso.timestamp, NOW - HOUR);
    assert.equal(epoch.timestamp, NOW - HOUR);
  });

  it('uses the client timestamp as is when there is no sentAt (e.g. a historical import)', () => {
    const e = event(parseMessage({ type: 'track', event: 'E', userId: 'u', timestamp: '2020-01-01T00:00:00Z' }, options()));
    assert.equal(e.timestamp, Date.UTC(2020, 0, 1));
    assert.equal(e.originalTimestamp, Date.UTC(2020, 0, 1));
  });

  it('corrects a client clock that runs one hour fast', () => {
    // The event happened 5 s before it was sent; the request took 200 ms to arrive at 12:00:00.000.
    // The phone's clock reads one hour ahead, so it stamped 13:00:00.000 and sent at 13:00:05.000.
    const receivedAt = NOW;
    const e = event(
      parseMessage(
        { type: 'track', event: 'E', userId: 'u', timestamp: '2024-05-01T12:59:55.200Z', sentAt: '2024-05-01T13:00:00.000Z' },
        options({ receivedAt }),
      ),
    );
    // timestamp = receivedAt − (sentAt − originalTimestamp) = 12:00:00.000 − 4.8 s
    assert.equal(e.timestamp, Date.UTC(2024, 4, 1, 11, 59, 55, 200));
    assert.equal(e.originalTimestamp, Date.UTC(2024, 4, 1, 12, 59, 55, 200));
    assert.equal(e.sentAt, Date.UTC(2024, 4, 1, 13, 0, 0));
    assert.equal(e.receivedAt, receivedAt);
  });

  it('corrects from originalTimestamp in preference to timestamp', () => {
    const e = event(
      parseMessage(
        { type: 'track', event: 'E', userId: 'u', originalTimestamp: NOW + HOUR - 1000, timestamp: 5, sentAt: NOW + HOUR },
        options(),
      ),
    );
    assert.equal(e.timestamp, NOW - 1000);
    assert.equal(e.originalTimestamp, NOW + HOUR - 1000);
  });

  it("corrects with the batch's sentAt when the message has none, and prefers the message's own", () => {
    const raw = { type: 'track', event: 'E', userId: 'u', timestamp: NOW + HOUR - 1000 };
    assert.equal(event(parseMessage(raw, options({ batchSentAt: NOW + HOUR }))).timestamp, NOW - 1000);
    assert.equal(event(parseMessage({ ...raw, sentAt: NOW + HOUR - 500 }, options({ batchSentAt: NOW + HOUR }))).timestamp, NOW - 500);
  });

  it('treats null times as absent', () => {
    const e = event(parseMessage({ type: 'track', event: 'E', userId: 'u', timestamp: null, sentAt: null }, options()));
    assert.equal(e.timestamp, NOW);
  });
});

describe('parseMessage: problems', () => {
  it('rejects input that is not an object at path ""', () => {
    for (const [raw, what] of [
      [null, 'null'],
      [undefined, 'undefined'],
      [[], 'an array'],
      [[{ type: 'track' }], 'an array'],
      ['{"type":"track"}', 'a string'],
      [42, 'a number'],
      [true, 'a boolean'],
    ] as const) {
      const p = problemAt(parseMessage(raw, options()), '');
      assert.equal(p.message, `must be an object (a Segment message), not ${what}`);
    }
  });

  it('names the allowed types when type is missing or unknown', () => {
    assert.equal(
      problemAt(parseMessage({ userId: 'u' }, options()), '/type').message,
      'required: one of track, identify, alias, group, page, screen',
    );
    for (const type of ['purchase', 'Track', 42, null, 'toString', '__proto__']) {
      assert.equal(
        problemAt(parseMessage({ type, userId: 'u' }, options()), '/type').message,
        'must be one of track, identify, alias, group, page, screen',
      );
    }
  });

  it('requires userId or anonymousId, counting empty strings as absent', () => {
    for (const ids of [{}, { userId: '' }, { userId: '', anonymousId: '' }, { userId: null, anonymousId: null }]) {
      assert.equal(
        problemAt(parseMessage({ type: 'identify', ...ids }, options()), '/userId').message,
        'required: one of userId or anonymousId (a non-empty string or a number)',
      );
    }
  });

  it('requires a non-empty event name for track', () => {
    assert.match(problemAt(parseMessage({ type: 'track', userId: 'u' }, options()), '/event').message, /^required: a non-empty string/);
    assert.match(problemAt(parseMessage({ type: 'track', event: '', userId: 'u' }, options()), '/event').message, /^must be a non-empty string/);
    assert.match(problemAt(parseMessage({ type: 'track', event: 7, userId: 'u' }, options()), '/event').message, /^must be a non-empty string/);
  });

  it('requires previousId and userId for alias, and groupId for group', () => {
    const alias = parseMessage({ type: 'alias', anonymousId: 'a' }, options());
    assert.match(problemAt(alias, '/previousId').message, /^required: a non-empty string/);
    assert.match(problemAt(alias, '/userId').message, /^required: a non-empty string/);
    assert.match(problemAt(parseMessage({ type: 'alias', previousId: 'p', userId: '' }, options()), '/userId').message, /^must be a non-empty string/);
    assert.match(problemAt(parseMessage({ type: 'group', userId: 'u' }, options()), '/groupId').message, /^required: a non-empty string/);
  });

  it('rejects ids of the wrong type', () => {
    for (const bad of [true, {}, ['u1']]) {
      assert.equal(problemAt(parseMessage({ type: 'identify', userId: bad }, options()), '/userId').message, 'must be a string of at most 1024 characters or a number');
    }
    assert.match(problemAt(parseMessage({ type: 'identify', userId: 'u', anonymousId: false }, options()), '/anonymousId').message, /^must be a string/);
    assert.match(problemAt(parseMessage({ type: 'identify', userId: 'u', messageId: 5 }, options()), '/messageId').message, /^must be a string/);
  });

  it('rejects event names and ids longer than 1024 characters', () => {
    const long = 'x'.repeat(1025);
    assert.ok(event(parseMessage({ type: 'track', event: 'x'.repeat(1024), userId: 'x'.repeat(1024) }, options())), 'event(parseMessage({ type: \'track\', event: \'x\'.repeat(1024), userId: \'x\...');
    assert.match(problemAt(parseMessage({ type: 'track', event: long, userId: 'u' }, options()), '/event').message, /at most 1024 characters/);
    for (const field of ['userId', 'anonymousId', 'messageId']) {
      const r = parseMessage({ type: 'identify', userId: 'u', [field]: long }, options());
      assert.match(problemAt(r, `/${field}`).message, /at most 1024 characters/);
    }
    assert.match(problemAt(parseMessage({ type: 'alias', userId: 'u', previousId: long }, options()), '/previousId').message, /at most 1024/);
    assert.match(problemAt(parseMessage({ type: 'group', userId: 'u', groupId: long }, options()), '/groupId').message, /at most 1024/);
  });

  it('rejects properties, traits, context and integrations that are not objects', () => {
    for (const field of ['properties', 'traits', 'context', 'integrations']) {
      for (const bad of [[], 'x', 1, null, true]) {
        const r = parseMessage({ type: 'track', event: 'E', userId: 'u', [field]: bad }, options());
        assert.match(problemAt(r, `/${field}`).message, /^must be an object/, `${field}: ${JSON.stringify(bad)}`);
      }
    }
  });

  it('checks context.traits and context.externalIds', () => {
    const base = { type: 'identify', userId: 'u' };
    assert.match(problemAt(parseMessage({ ...base, context: { traits: 'x' } }, options()), '/context/traits').message, /^must be an object/);
    assert.match(problemAt(parseMessage({ ...base, context: { externalIds: {} } }, options()), '/context/externalIds').message, /^must be an array/);
    const r = parseMessage({ ...base, context: { externalIds: [{ id: 'a@b.co', type: 'email' }, { id: 5, type: 'phone' }, { id: 'x' }] } }, options());
    assert.match(problemAt(r, '/context/externalIds/1/id').message, /^must be a non-empty string/);
    assert.match(problemAt(r, '/context/externalIds/2/type').message, /^required: a non-empty string/);
    const ok = event(parseMessage({ ...base, context: { externalIds: [{ id: 'a@b.co', type: 'email', collection: 'users', encoding: 'none' }] } }, options()));
    assert.ok(ok.context, 'ok.context');
  });

  it('checks context.groupId and context.groups (the accounts a call is attributed to)', () => {
    const base = { type: 'track', event: 'x', userId: 'u' };
    for (const bad of ['', true, { id: 'a' }, ['a'], 'g'.repeat(1025)]) {
      assert.match(problemAt(parseMessage({ ...base, context: { groupId: bad } }, options()), '/context/groupId').message, /^must be the account the message is attributed to/, JSON.stringify(bad).slice(0, 40));
    }
    assert.match(problemAt(parseMessage({ ...base, context: { groups: ['acme'] } }, options()), '/context/groups').message, /^must be an object of group types to group ids/);
    assert.match(problemAt(parseMessage({ ...base, context: { groups: { company: 'acme', team: null } } }, options()), '/context/groups/team').message, /^must be a group id/);
    const ok = event(parseMessage({ ...base, context: { groupId: 12, groups: { company: 'acme' } } }, options()));
    assert.deepEqual(ok.context, { groupId: 12, groups: { company: 'acme' } });
    const viaBatch = parseBatch({ batch: [base], context: { groupId: false } }, options());
    assert.equal(viaBatch.ok, false, "a batch's shared context is checked too");
  });

  it('names the time field that cannot be read', () => {
    for (const field of ['timestamp', 'originalTimestamp', 'sentAt']) {
      for (const bad of ['yesterday', '2024-02-30T00:00:00Z', true, {}, Infinity]) {
        const r = parseMessage({ type: 'track', event: 'E', userId: 'u', [field]: bad }, options());
        assert.equal(
          problemAt(r, `/${field}`).message,
          'must be an ISO 8601 time (e.g. "2024-05-01T12:00:00.000Z") or epoch milliseconds (a number)',
          `${field}: ${JSON.stringify(bad)}`,
        );
      }
    }
  });

  it("reports a batch sentAt that cannot be read", () => {
    const r = parseMessage({ type: 'track', event: 'E', userId: 'u' }, options({ batchSentAt: 'soon' }));
    assert.match(problemAt(r, '/sentAt').message, /^the batch's sentAt must be an ISO 8601 time/);
  });

  it('lists every problem at once, each field once, ordered by path', () => {
    const r = parseMessage(
      {
        type: 'track',
        event: '',
        userId: '',
        messageId: 12,
        timestamp: 'noon',
        sentAt: false,
        properties: [],
        context: { externalIds: [{ id: '' }] },
      },
      options(),
    );
    assert.deepEqual(
      problems(r).map((p) => p.path),
      ['/context/externalIds/0/id', '/context/externalIds/0/type', '/event', '/messageId', '/properties', '/sentAt', '/timestamp', '/userId'],
    );
  });

  it('keeps checking the other fields when the type is unknown', () => {
    const r = parseMessage({ type: 'purchase', properties: 3, timestamp: 'noon' }, options());
    assert.deepEqual(
      problems(r).map((p) => p.path),
      ['/properties', '/timestamp', '/type', '/userId'],
    );
  });
});

describe('parseBatch', () => {
  const batchOptions = () => {
    const { batchSentAt: _, ...rest } = options();
    return rest;
  };

  it('parses every message in order, one result each', () => {
    const r = parseBatch(
      {
        batch: [
          { type: 'identify', userId: 'u1', messageId: 'm1' },
          { type: 'bogus', userId: 'u1' },
          { type: 'track', event: 'E', anonymousId: 'a1', messageId: 'm3' },
        ],
      },
      batchOptions(),
    );
    assert.ok(r.ok, 'r.ok');
    assert.equal(r.results.length, 3);
    assert.equal(event(r.results[0]!).messageId, 'm1');
    assert.equal(problemAt(r.results[1]!, '/type').path, '/type');
    assert.equal(event(r.results[2]!).messageId, 'm3');
  });

  it('corrects skew with the batch sentAt and stamps one arrival time for all', () => {
    const r = parseBatch(
      {
        sentAt: '2024-05-01T13:00:00.000Z',
        batch: [
          { type: 'track', event: 'A', userId: 'u', timestamp: '2024-05-01T12:59:50.000Z' },
          { type: 'track', event: 'B', userId: 'u', timestamp: '2024-05-01T12:59:59.000Z' },
          { type: 'track', event: 'C', userId: 'u' },
        ],
      },
      batchOptions(),
    );
    assert.ok(r.ok, 'r.ok');
    const [a, b, c] = r.results.map(event);
    assert.equal(a!.timestamp, NOW - 10_000);
    assert.equal(b!.timestamp, NOW - 1_000);
    assert.equal(a!.sentAt, NOW + HOUR);
    assert.equal(c!.timestamp, NOW);
    assert.equal(new Set(r.results.map((x) => event(x).receivedAt)).size, 1);
  });

  it("merges the batch context under each message's context: the message's fields win", () => {
    const shared = { library: { name: 'analytics-node', version: '2.0.0' }, ip: '10.0.0.1' };
    const r = parseBatch(
      {
        context: shared,
        batch: [
          { type: 'track', event: 'A', userId: 'u', context: { ip: '203.0.113.7', locale: 'en-GB' } },
          { type: 'track', event: 'B', userId: 'u' },
        ],
      },
      batchOptions(),
    );
    assert.ok(r.ok, 'r.ok');
    const [a, b] = r.results.map(event);
    assert.deepEqual(a!.context, { library: shared.library, ip: '203.0.113.7', locale: 'en-GB' });
    assert.deepEqual(b!.context, shared);
    assert.deepEqual(shared, { library: { name: 'analytics-node', version: '2.0.0' }, ip: '10.0.0.1' });
  });

  it('copies a "__proto__" key of a context as data, never as a prototype', () => {
    const raw = JSON.parse('{"context":{"a":1},"batch":[{"type":"track","event":"E","userId":"u","context":{"__proto__":{"polluted":true}}}]}') as unknown;
    const r = parseBatch(raw, batchOptions());
    assert.ok(r.ok, 'r.ok');
    const context = event(r.results[0]!).context!;
    assert.equal(Object.getPrototypeOf(context), Object.prototype);
    assert.deepEqual(Object.keys(context).sort(), ['__proto__', 'a']);
    assert.equal((context as Record<string, unknown>).polluted, undefined);
  });

  it('accepts an empty batch', () => {
    assert.deepEqual(parseBatch({ batch: [] }, batchOptions()), { ok: true, results: [] });
  });

  it('rejects a malformed envelope whole, listing each problem', () => {
    for (const raw of [null, [], 'x', 3]) {
      const r = parseBatch(raw, batchOptions());
      assert.ok(!r.ok, '!r.ok');
      assert.deepEqual(r.problems.map((p) => p.path), ['']);
    }
    const missing = parseBatch({}, batchOptions());
    assert.ok(!missing.ok, '!missing.ok');
    assert.deepEqual(missing.problems, [{ path: '/batch', message: 'required: an array of messages' }]);
    const bad = parseBatch({ batch: {}, sentAt: 'later', context: [] }, batchOptions());
    assert.ok(!bad.ok, '!bad.ok');
    assert.deepEqual(bad.problems.map((p) => p.path), ['/batch', '/context', '/sentAt']);
    const badContext = parseBatch({ batch: [], context: { externalIds: [{}] } }, batchOptions());
    assert.ok(!badContext.ok, '!badContext.ok');
    assert.deepEqual(badContext.problems.map((p) => p.path), ['/context/externalIds/0/id', '/context/externalIds/0/type']);
  });
});

describe('parseMessage: length limits', () => {
  it('counts an id’s length in UTF-16 code units, so astral characters cannot slip past the limit', () => {
    const id = '𐀀'.repeat(600); // 600 code points, 1200 code units
    const r = parseMessage({ type: 'page', userId: id }, { workspace: 'w', clock: { now: () => 0 } });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.problems[0]?.path, '/userId');
  });
});
