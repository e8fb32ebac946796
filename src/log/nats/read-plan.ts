/**
 * How the records at a set of stream positions are read from JetStream
 * (server 2.9 has no batched get): the positions thought to lie in one
 * partition and close enough together are read as one range, by a consumer
 * over that partition's subjects that keeps only the positions asked for;
 * the others, one request each.
 */

/** A position to read, with the partition it is expected in (a hint: a position not found there is read on its own). */
export interface Wanted {
  position: number;
  partition?: number;
}

/** One range read: the partition's messages from `from` to `to`, of which `positions` are kept. */
export interface RangeRead {
  partition: number;
  from: number;
  to: number;
  positions: number[];
}

export interface ReadPlan {
  ranges: RangeRead[];
  singles: number[];
}

export interface ReadPlanOptions {
  /** Partitions of the stream: a partition holds about one in `partitions` of the positions of a range. */
  partitions: number;
  /** Fewest positions worth a range read (it costs a consumer's creation and deletion); default 4. */
  minRun?: number;
  /** Most messages a range may deliver per position kept (estimated); default 8. */
  maxWaste?: number;
  /** Widest range, in stream positions; default 50,000. */
  maxSpan?: number;
}

/**
 * Plans the reads of these positions. Every distinct position appears once in
 * the plan: in one range or among the singles. Positions are sorted; ranges
 * of one partition do not overlap.
 */
export function planReads(wanted: readonly Wanted[], o: ReadPlanOptions): ReadPlan {
  const minRun = o.minRun ?? 4;
  const maxWaste = o.maxWaste ?? 8;
  const maxSpan = o.maxSpan ?? 50_000;
  // A position asked for twice is read once, where it was first expected.
  const hints = new Map<number, number | undefined>();
  for (const w of wanted) if (!hints.has(w.position)) hints.set(w.position, w.partition);
  const byPartition = new Map<number, number[]>();
  const singles: number[] = [];
  for (const [position, partition] of hints) {
    if (partition === undefined) singles.push(position);
    else {
      const list = byPartition.get(partition);
      if (list === undefined) byPartition.set(partition, [position]);
      else list.push(position);
    }
  }
  const ranges: RangeRead[] = [];
  const close = (partition: number, run: number[]) => {
    if (run.length >= minRun) ranges.push({ partition, from: run[0]!, to: run[run.length - 1]!, positions: run });
    else singles.push(...run);
  };
  for (const [partition, positions] of [...byPartition].sort(([a], [b]) => a - b)) {
    const sorted = positions.sort((a, b) => a - b);
    let run: number[] = [];
    for (const p of sorted) {
      const span = run.length === 0 ? 1 : p - run[0]! + 1;
      // The partition's messages in the span, estimated: about one in `partitions` of the stream's.
      const delivered = Math.ceil(span / o.partitions);
      if (run.length > 0 && (span > maxSpan || delivered > maxWaste * (run.length + 1))) {
        close(partition, run);
        run = [];
      }
      run.push(p);
    }
    close(partition, run);
  }
  return { ranges, singles: singles.sort((a, b) => a - b) };
}
