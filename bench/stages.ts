/**
 * The pieces every benchmark shares: the generated workload as JSON lines,
 * the floor (parse + validate + durable append to a log), and ingest through
 * a Portrait in batches. No side effects on import.
 */
import { systemClock } from '../src/core/clock.ts';
import type { PortraitEvent } from '../src/core/event.ts';
import { parseMessage } from '../src/ingest/index.ts';
import type { EventLog } from '../src/log/index.ts';
import type { Portrait } from '../src/index.ts';
import { workload } from '../test/support/workload.ts';

export const BATCH = 1000;

/** The benchmark workload (seed 42, the last 30 days) as JSON lines, as an SDK would send them. */
export function workloadLines(events: number, users: number): string[] {
  const out: string[] = [];
  for (const m of workload({ events, users, seed: 42, start: Date.now() - 30 * 86_400_000 })) out.push(JSON.stringify(m));
  return out;
}

/** The floor: JSON.parse + validate + durable append, in batches of BATCH; events/s. Leaves the log open. */
export async function appendRate(input: readonly string[], log: EventLog): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < input.length; i += BATCH) {
    const batch: PortraitEvent[] = [];
    const receivedAt = Date.now();
    for (let j = i; j < Math.min(i + BATCH, input.length); j++) {
      const r = parseMessage(JSON.parse(input[j]!), { workspace: 'default', clock: systemClock, receivedAt });
      if (r.ok) batch.push(r.event);
    }
    await log.append(batch);
  }
  return input.length / ((performance.now() - t0) / 1000);
}

/** Ingests every line through `p`, in batches of BATCH (parsed from JSON, as the HTTP layer would). */
export async function ingestAll(p: Portrait, input: readonly string[]): Promise<void> {
  for (let i = 0; i < input.length; i += BATCH) {
    const batch: unknown[] = [];
    for (let j = i; j < Math.min(i + BATCH, input.length); j++) batch.push(JSON.parse(input[j]!));
    await p.ingest(batch);
  }
}
