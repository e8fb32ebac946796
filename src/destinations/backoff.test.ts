import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { backoffCeiling, backoffDelay } from './backoff.ts';

test('backoff ceilings never decrease, start at the base, stop at the cap; delays stay within [0, ceiling]', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100_000 }),
      fc.integer({ min: 1, max: 10_000_000 }),
      fc.integer({ min: 1, max: 200 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (baseMs, capMs, attempt, r) => {
        const o = { baseMs, capMs };
        const c = backoffCeiling(attempt, o);
        assert.ok(Number.isFinite(c), `ceiling of attempt ${attempt} is finite`);
        assert.ok(c <= capMs, `ceiling ${c} within the cap ${capMs}`);
        assert.ok(backoffCeiling(attempt + 1, o) >= c, 'ceilings never decrease');
        assert.equal(backoffCeiling(1, o), Math.min(baseMs, capMs), 'the first ceiling is the base (or the cap when smaller)');
        if (baseMs * 2 ** (attempt - 1) <= capMs) assert.equal(c, baseMs * 2 ** (attempt - 1), 'below the cap the ceiling doubles per attempt');
        const d = backoffDelay(attempt, o, () => r);
        assert.ok(d >= 0 && d <= c, `delay ${d} within [0, ${c}]`);
        assert.ok(Number.isInteger(d), 'delays are whole milliseconds');
      },
    ),
  );
});

test('full jitter spans the whole range: rng 0 gives 0, rng near 1 gives the ceiling', () => {
  const o = { baseMs: 1000, capMs: 60_000 };
  assert.equal(backoffDelay(3, o, () => 0), 0, 'lowest draw');
  assert.equal(backoffDelay(3, o, () => 0.999_999_9), 4000, 'highest draw reaches the ceiling');
  assert.equal(backoffDelay(30, o, () => 0.999_999_9), 60_000, 'capped');
});
