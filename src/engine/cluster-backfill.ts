/**
 * A trait backfill on a partition of a scale-out deployment folds the events
 * of its own log. An event whose owner's profile now lives on another
 * partition (it moved there in a merge, with what this partition had folded
 * of it) is folded here into a partial state per owner identifier, and sent
 * to that partition as a `traits` control record, which merges it into the
 * profile holding the identifier (the aggregators are mergeable monoids).
 * A purpose-bound trait sends the events' inputs instead, which the owner
 * folds as its consents allow.
 */
import { controlMessageId, type BackfilledState, type ControlRecord } from '../core/control.ts';
import type { AggregatorInput } from '../traits/index.ts';
import type { TraitRuntime } from '../profile/index.ts';

interface Away {
  workspace: string;
  ident: string;
  to: number;
  origin: number;
  states: Map<string, BackfilledState>;
}

/** Partial states of a backfill chunk for profiles owned elsewhere, per owner identifier. */
export class Backfilled {
  private readonly away = new Map<string, Away>();

  /** Folds one event's input (at `position`) into the partial state of `ident`'s profile, owned by partition `to`. */
  add(workspace: string, ident: string, to: number, position: number, t: TraitRuntime, target: number, input: AggregatorInput): void {
    const key = `${workspace}\u0000${ident}`;
    let a = this.away.get(key);
    if (a === undefined) this.away.set(key, (a = { workspace, ident, to, origin: position, states: new Map() }));
    if (position < a.origin) a.origin = position;
    let st = a.states.get(t.name);
    // A purpose-bound trait: the consents that gate each event are the owner's, so its inputs go there.
    if (st === undefined) a.states.set(t.name, (st = { name: t.name, hash: t.hash, target, s: t.aggregator.init(), ...(t.purpose !== undefined && { gated: [] }) }));
    if (st.gated !== undefined) st.gated.push(input);
    else st.s = t.aggregator.add(st.s, input);
  }

  /**
   * The records to send, made by partition `from` at its committed position
   * `at`, numbered from `index` on (after the records it made there before),
   * in a fixed order.
   */
  records(from: number, at: number, index: number, now: number): ControlRecord[] {
    const all = [...this.away.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return all.map(([, a], i) => ({
      type: 'control',
      workspace: a.workspace,
      messageId: controlMessageId(from, at, index + i),
      from,
      at,
      index: index + i,
      to: a.to,
      body: { kind: 'traits', ident: a.ident, source: from, origin: a.origin, states: [...a.states.values()] },
      timestamp: now,
      receivedAt: now,
    }));
  }
}
