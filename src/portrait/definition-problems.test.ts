import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Errors, PortraitError } from '../core/errors.ts';
import { relativeProblems } from './definition-problems.ts';

const input = { segments: [{ name: 'vip' }, { name: 'new_one' }], tags: [{ name: 'value/high' }] };

describe('problems of one definition sent over the API', () => {
  it('makes its own paths relative and names the others by name (a JSON pointer)', () => {
    const e = Errors.invalidSegment('segment definition', [
      { path: '/segments/1/condition/ref', message: 'unknown trait "nope"' },
      { path: '/segments/1', message: 'must be an object' },
      { path: '/segments/0/condition', message: 'broken' },
      { path: '/tags/0/condition', message: 'broken too' },
      { path: '/vip', message: 'a cycle' },
    ]);
    const out = relativeProblems(e, 'segment', 1, input) as PortraitError;
    assert.equal(out.code, 'PORTRAIT_SEGMENT_INVALID');
    assert.deepEqual(out.problems.map((p) => p.path), ['/condition/ref', '', '/segments/vip/condition', '/tags/value~1high/condition', '/vip']);
    assert.match(out.message, /\/condition\/ref: unknown trait "nope"/, 'the message lists the new paths');
  });

  it('leaves other errors, and paths of definitions it cannot name, as they were', () => {
    const syntax = Errors.conditionSyntax('condition', 3, 1, 4, 'expected a value');
    assert.equal(relativeProblems(syntax, 'segment', 0, input), syntax);
    const other = new Error('boom');
    assert.equal(relativeProblems(other, 'tag', 0, input), other);
    const e = Errors.invalidSegment('tag definition', [{ path: '/segments/9/condition', message: 'x' }]);
    assert.deepEqual((relativeProblems(e, 'tag', 0, input) as PortraitError).problems.map((p) => p.path), ['/segments/9/condition']);
  });
});
