import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Backfilled } from './cluster-backfill.ts';
import { countAggregator } from '../traits/count.ts';
import { sumAggregator } from '../traits/sum.ts';
import type { TraitRuntime } from '../profile/index.ts';

const trait = (name: string, aggregator: TraitRuntime['aggregator']): TraitRuntime => ({ name, hash: `h-${name}`, aggregator, input: () => undefined });
const input = (value: number, time = 0) => ({ time, id: `m${time}`, value, weight: 1 });
const count = countAggregator();
const sum = sumAggregator();

describe('a backfill chunk\'s states for profiles owned elsewhere', () => {
  it('folds one partial state per owner identifier and trait, made into records numbered after the partition\'s last one, in a fixed order', () => {
    const b = new Backfilled();
    const n = trait('n', count as unknown as TraitRuntime['aggregator']);
    const s = trait('s', sum as unknown as TraitRuntime['aggregator']);
    b.add('w', 'user:b', 2, 30, n, 40, input(1));
    b.add('w', 'user:a', 1, 20, n, 40, input(1));
    b.add('w', 'user:b', 2, 10, n, 40, input(1));
    b.add('w', 'user:b', 2, 12, s, 40, input(5));
    b.add('w', 'user:b', 2, 14, s, 40, input(7));
    const recs = b.records(3, 50, 4, 1000);
    assert.deepEqual(
      recs.map((r) => [r.messageId, r.to, r.at, r.index]),
      [
        ['ctl-3-50-4', 1, 50, 4],
        ['ctl-3-50-5', 2, 50, 5],
      ],
    );
    const body = recs[1]!.body;
    assert.ok(body.kind === 'traits');
    assert.deepEqual(body, {
      kind: 'traits',
      ident: 'user:b',
      source: 3,
      origin: 10,
      states: [
        { name: 'n', hash: 'h-n', target: 40, s: 2 },
        { name: 's', hash: 'h-s', target: 40, s: sum.add(sum.add(sum.init(), input(5)), input(7)) },
      ],
    });
  });

  it('a purpose-bound trait sends the events\' inputs, in log order, for the owner to gate by its consents', () => {
    const b = new Backfilled();
    const m: TraitRuntime = { ...trait('m', sum as unknown as TraitRuntime['aggregator']), purpose: 'marketing' };
    b.add('w', 'user:a', 1, 20, m, 40, input(5, 2));
    b.add('w', 'user:a', 1, 22, m, 40, input(7, 1));
    const body = b.records(0, 50, 0, 1000)[0]!.body;
    assert.ok(body.kind === 'traits');
    assert.deepEqual(body.states, [{ name: 'm', hash: 'h-m', target: 40, s: sum.init(), gated: [input(5, 2), input(7, 1)] }]);
  });

  it('makes no record when nothing is owned elsewhere', () => {
    assert.deepEqual(new Backfilled().records(0, 1, 0, 0), []);
  });
});
