/** window_count and window_sum: worked examples, including value(now) at chosen nows. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DAY, HOUR } from '../core/clock.ts';
import { isPortraitError } from '../core/errors.ts';
import { windowCountAggregator } from './window.ts';
import { agg, bytes, fold, inp, JUNK, MIN, T0 } from './testing.ts';

describe('window_count and window_sum', () => {
  // value(now) adds the buckets from the one containing now - window to the one containing now:
  // a bucket [start, start + bucket) counts while start + bucket > now - window and start <= now.
  it('window_count: an event leaves when the window has passed since its bucket closed', () => {
    const a = agg({ kind: 'window_count', window: '2h' });
    const s = fold(a, [inp(T0), inp(T0 + 30 * MIN), inp(T0 + 90 * MIN)]);
    assert.equal(a.value(s, T0 - 1), 0, 'before the first bucket starts');
    assert.equal(a.value(s, T0), 2, 'the bucket containing now counts');
    assert.equal(a.value(s, T0 + 2 * HOUR), 3);
    // The first bucket [T0, T0+1h) leaves once now - 2h reaches T0 + 1h.
    assert.equal(a.value(s, T0 + 3 * HOUR - 1), 3, 'one ms before the first bucket leaves');
    assert.equal(a.value(s, T0 + 3 * HOUR), 1, 'exactly when the window has passed the first bucket');
    assert.equal(a.value(s, T0 + 4 * HOUR - 1), 1);
    assert.equal(a.value(s, T0 + 4 * HOUR), 0);
    assert.equal(a.value(a.init(), T0), 0);
  });

  it('window_count: an event at the end of a bucket leaves exactly one window after its time', () => {
    const a = agg({ kind: 'window_count', window: '1d' });
    const t = T0 + HOUR - 1; // last ms of the bucket [T0, T0+1h)
    const s = fold(a, [inp(t)]);
    assert.equal(a.value(s, t + DAY), 1);
    assert.equal(a.value(s, t + DAY + 1), 0);
  });

  it('window_count with day buckets', () => {
    const a = agg({ kind: 'window_count', window: '7d', bucket: 'day' });
    const s = fold(a, [inp(T0 + 5 * HOUR), inp(T0 + 2 * DAY), inp(T0 + 2 * DAY + 1)]);
    assert.equal(a.value(s, T0 + 2 * DAY), 3);
    assert.equal(a.value(s, T0 + 8 * DAY - 1), 3);
    assert.equal(a.value(s, T0 + 8 * DAY), 2);
    assert.equal(a.value(s, T0 + 10 * DAY), 0);
  });

  it('window_sum adds numeric values exactly and ignores junk', () => {
    const a = agg({ kind: 'window_sum', value: 'v', window: '1d', bucket: 'day' });
    const s = fold(a, [inp(T0 - DAY, 100), inp(T0 + HOUR, 0.1), inp(T0 + 2 * HOUR, '0.2'), inp(T0 + 3 * HOUR, 'x'), inp(T0 + 3 * HOUR, null)]);
    assert.equal(a.value(s, T0 - 1), 100, 'the bucket of T0 has not started');
    assert.equal(a.value(s, T0), 100.3, 'at T0 both buckets overlap (T0 - 1d, T0]');
    // The day bucket [T0 - 1d, T0) overlaps the window until now - 1d reaches T0.
    assert.equal(a.value(s, T0 + DAY - 1), 100.3);
    assert.equal(a.value(s, T0 + DAY), 0.3);
    assert.equal(a.value(s, T0 + 2 * DAY - 1), 0.3);
    assert.equal(a.value(s, T0 + 2 * DAY), 0);
  });

  it('window_sum: negative values and merge', () => {
    const a = agg({ kind: 'window_sum', value: 'v', window: '3h' });
    const m = a.merge(fold(a, [inp(T0, 5), inp(T0 + HOUR, -1.25)]), fold(a, [inp(T0 + 2 * HOUR, '0.25')]));
    assert.equal(a.value(m, T0 + 2 * HOUR), 4);
    assert.equal(a.value(m, T0 + 4 * HOUR), -1);
  });

  it('drops buckets that can no longer be in the window of the newest event', () => {
    const a = agg({ kind: 'window_count', window: '2h' });
    const s = fold(a, [inp(T0), inp(T0 + 10 * DAY), inp(T0 + 5 * MIN)]) as { b: Array<[number, number]>; m: number };
    assert.deepEqual(s.b, [[(T0 + 10 * DAY) / HOUR, 1]]);
    assert.equal(s.m, T0 + 10 * DAY);
    assert.equal(a.value(s, T0 + 10 * DAY), 1);
  });
});

describe('window: bounds and canonical form', () => {
  it('window_sum leaves the state unchanged for junk', () => {
    const a = agg({ kind: 'window_sum', value: 'v', window: '1d' });
    assert.equal(bytes(fold(a, JUNK.map((j) => inp(T0, j)))), bytes(a.init()));
  });

  it('keeps a bounded number of buckets over a long stream', () => {
    const a = agg({ kind: 'window_count', window: '1d' });
    const s = fold(a, Array.from({ length: 24 * 60 }, (_, i) => inp(T0 + i * HOUR))) as { b: unknown[] };
    // The buckets of the window (24 + the one of now - window) and one spare.
    assert.equal(s.b.length, 26);
  });

  it('times before 1970 (negative bucket numbers) stay in order', () => {
    const a = agg({ kind: 'window_count', window: '3h' });
    const times = [-HOUR, -1, 0, HOUR + 5];
    const s1 = fold(a, times.map((t) => inp(t)));
    const s2 = fold(a, [...times].reverse().map((t) => inp(t)));
    assert.equal(bytes(s1), '{"b":[[-1,2],[0,1],[1,1]],"m":3600005}');
    assert.equal(bytes(s2), bytes(s1));
    assert.equal(a.value(s1, HOUR + 5), 4);
  });

  it('a definition without a window is a clear error, not NaN', () => {
    assert.throws(
      () => windowCountAggregator({ name: 'w', kind: 'window_count' }),
      (e: unknown) => isPortraitError(e) && e.code === 'PORTRAIT_CONFIG_INVALID' && e.problems[0]?.path === '/window',
    );
  });
});
