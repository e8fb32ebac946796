import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { memoByText } from './memo.ts';

describe('memoByText', () => {
  it('calls the function once per text, undefined results included, and starts over past its bound', () => {
    const calls: string[] = [];
    const f = memoByText((t: string) => {
      calls.push(t);
      return t === 'none' ? undefined : t.length;
    }, 2);
    assert.deepEqual([f('abc'), f('abc'), f('none'), f('none')], [3, 3, undefined, undefined]);
    assert.deepEqual(calls, ['abc', 'none'], 'each text read once');
    f('x');
    f('abc');
    assert.deepEqual(calls, ['abc', 'none', 'x', 'abc'], 'a third text cleared the memory: abc is read again');
  });
});
