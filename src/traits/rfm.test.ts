/** rfm: worked examples. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DAY, HOUR } from '../core/clock.ts';
import { agg, fold, inp, MIN, T0 } from './testing.ts';

describe('rfm', () => {
  it('recency in days (2 decimals), frequency of all events, monetary of numeric values', () => {
    const a = agg({ kind: 'rfm', value: 'properties.revenue' });
    assert.deepEqual(a.value(a.init(), T0), { recencyDays: null, frequency: 0, monetary: 0, lastSeen: null });
    const s = fold(a, [inp(T0 - 3 * DAY, 10), inp(T0 - DAY, '5.5'), inp(T0 - 2 * DAY, 'junk'), inp(T0 - 5 * DAY, 0.1), inp(T0 - 4 * DAY, 0.2)]);
    assert.deepEqual(a.value(s, T0), { recencyDays: 1, frequency: 5, monetary: 15.8, lastSeen: new Date(T0 - DAY).toISOString() });
    assert.equal((a.value(s, T0 - DAY + 90 * MIN) as { recencyDays: number }).recencyDays, 0.06);
    assert.equal((a.value(s, T0 + 2 * DAY + 12 * HOUR) as { recencyDays: number }).recencyDays, 3.5);
  });
  it('merge keeps the latest time and adds the rest', () => {
    const a = agg({ kind: 'rfm', value: 'v' });
    const m = a.merge(fold(a, [inp(T0 + DAY, 1)]), fold(a, [inp(T0, 2), inp(T0 + 2 * DAY, 'x')]));
    assert.deepEqual(a.value(m, T0 + 2 * DAY), { recencyDays: 0, frequency: 3, monetary: 3, lastSeen: new Date(T0 + 2 * DAY).toISOString() });
  });
});
