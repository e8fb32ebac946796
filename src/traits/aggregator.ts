/**
 * The contract every computed-trait aggregator keeps: a commutative monoid
 * over events. `add` folds one input in, `merge` combines two states, and the
 * state reached is the same for any order of inputs and any split-then-merge.
 *
 * States are plain JSON values in a canonical form (sorted keys, exact
 * arithmetic), so equal states serialise to equal bytes: a rebuild can be
 * compared with the incremental state byte for byte.
 */

/** What the engine hands an aggregator for one matching event. */
export interface AggregatorInput {
  /** Event time, epoch ms. */
  time: number;
  /** messageId of the event: the tie-breaker for equal times. */
  id: string;
  /** The value read at the definition's value path (undefined when absent). */
  value: unknown;
  /** The key read at the definition's key path (decayed score, top-k). */
  key?: string;
  /** The event's weight (decayed score); 1 unless the definition says otherwise. */
  weight: number;
}

export interface Aggregator<S = unknown, V = unknown> {
  /** Start state: the identity of `merge`. */
  init(): S;
  /** Fold one input into the state. May mutate `state`; returns the new state. */
  add(state: S, input: AggregatorInput): S;
  /** Combine two states. Must not mutate either argument. */
  merge(a: S, b: S): S;
  /** The trait's value at time `now` (windows and decay read it). */
  value(state: S, now: number): V;
  /**
   * Optional, for the history: the value as a map from key to value, when it
   * is one in another form (a top list of keys with counts), so that a change
   * is recorded per key. A value that is a JSON object is such a map already.
   */
  keyed?(value: V): Record<string, unknown>;
  /**
   * Optional, for the history of a trait whose value is a map by key: folds
   * `input` in as `add` does and reports which keys of the value at `now`
   * (of `keyed(value)` when the aggregator has it) changed, without reading
   * the whole value before and after. `change`
   * holds each key whose value differs, as [old, new] (undefined where the
   * key is absent). Returns undefined, having folded nothing, when it cannot
   * tell cheaply; the caller then compares `value()` before and after `add`.
   */
  addReporting?(state: S, input: AggregatorInput, now: number): { state: S; change: Record<string, [unknown, unknown]> } | undefined;
}
