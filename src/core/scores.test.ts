import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { readScores, scoreProblemsAt, scoreSpecs } from './scores.ts';

const specs = scoreSpecs([{ name: 'churn', min: 0, max: 1 }, { name: 'ltv', min: 0 }, { name: 'delta' }]);

describe('reading context.scores', () => {
  it('takes a number or {value, model} for each declared name, sorted by name', () => {
    assert.deepEqual(readScores({ ltv: { value: 12.5, model: 'ltv-v2' }, churn: 0, delta: -1e9 }, specs), {
      scores: [{ name: 'churn', value: 0 }, { name: 'delta', value: -1e9 }, { name: 'ltv', value: 12.5, model: 'ltv-v2' }],
      problems: [],
    }, 'both forms; an unbounded score takes any finite number');
    assert.deepEqual(readScores({ churn: 1 }, specs).scores, [{ name: 'churn', value: 1 }], 'the bounds are inclusive');
  });

  it('names the score and the reason of every unusable entry, keeping the usable ones', () => {
    const r = readScores({ churn: 1.01, ltv: -0.5, delta: null, fraud: 1, x: { value: 'a' } }, specs);
    assert.deepEqual(r.scores, [], 'nothing usable');
    assert.deepEqual(r.problems.map((p) => p.message), [
      'score "churn" is 1.01, outside its declared range [0, 1]',
      'score "delta" must be a finite number or {"value": <number>, "model": <string>}, not null',
      'score "fraud" is not declared (declared: churn, delta, ltv; add it to scores in the configuration)',
      'score "ltv" is -0.5, outside its declared range at least 0',
      'score "x" is not declared (declared: churn, delta, ltv; add it to scores in the configuration)',
    ], 'one problem per entry');
    assert.deepEqual(r.problems.map((p) => p.value), [1.01, null, 1, -0.5, { value: 'a' }], 'with the value sent');
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, '0.5', true, [0.5], { value: 0.5, extra: 1 }, { value: 0.5, model: '' }, { model: 'm' }]) {
      assert.equal(readScores({ churn: bad }, specs).problems.length, 1, `refused: ${String(bad)}`);
    }
    assert.deepEqual(readScores([1], specs).problems.map((p) => p.name), [''], 'a list is not a scores object');
    assert.deepEqual(readScores({ churn: 0.5 }, new Map()).problems.map((p) => p.message), ['score "churn" is not declared (no scores are declared; add it to scores in the configuration)'], 'nothing declared');
  });

  it('gives problems JSON-pointer paths', () => {
    assert.deepEqual(scoreProblemsAt([{ name: 'a/b~c', value: 1, message: 'm' }, { name: '', value: 1, message: 'n' }]).map((p) => p.path), ['/context/scores/a~1b~0c', '/context/scores'], 'escaped');
  });
});
