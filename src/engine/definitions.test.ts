import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Definitions, traitVersions } from './definitions.ts';
import type { TraitDefinition } from '../traits/index.ts';

const count = (name: string, event: string): TraitDefinition => ({ name, kind: 'count', filter: { event } }) as TraitDefinition;

describe('the fingerprint of trait definition versions', () => {
  it('depends on each name and version, not on their order (property)', () => {
    const rows = fc.uniqueArray(fc.record({ name: fc.string({ minLength: 1, maxLength: 8 }), hash: fc.stringMatching(/^[0-9a-f]{4,16}$/) }), { selector: (r) => r.name, maxLength: 8 });
    const reordered = rows.chain((rs) => fc.tuple(fc.constant(rs), fc.shuffledSubarray(rs, { minLength: rs.length, maxLength: rs.length })));
    fc.assert(
      fc.property(reordered, ([rs, shuffled]) => {
        assert.equal(traitVersions(shuffled), traitVersions(rs));
        if (rs.length > 0) {
          const changed = rs.map((r, i) => (i === 0 ? { ...r, hash: `${r.hash}0` } : r));
          assert.notEqual(traitVersions(changed), traitVersions(rs), 'a changed version changes it');
          assert.notEqual(traitVersions(rs.slice(1)), traitVersions(rs), 'a removed definition changes it');
        }
      }),
    );
  });

  it('follows the definitions in force: a changed definition changes it, an unchanged one keeps it', () => {
    const d = new Definitions({ setOnce: new Set(), types: {} });
    d.reconcile([count('views', 'Product Viewed')], 0, 0);
    const before = d.versions();
    assert.equal(before, traitVersions(d.list()), 'the stored rows give the same fingerprint');
    d.reconcile([count('views', 'Product Viewed')], 10, 1);
    assert.equal(d.versions(), before, 'the same definition again');
    d.reconcile([count('views', 'Order Completed')], 10, 2);
    assert.notEqual(d.versions(), before, 'a changed definition');
    assert.equal(d.versions(), traitVersions(d.list()));
  });
});
