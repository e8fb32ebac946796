import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { canonicalJson } from './profile.ts';

describe('canonicalJson', () => {
  it('sorts keys at every level, so equal values give equal bytes', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
    assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
  });

  it('keeps a "__proto__" key as data', () => {
    const v = JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as unknown;
    assert.equal(canonicalJson(v), '{"__proto__":{"x":1},"a":2}');
  });
});
