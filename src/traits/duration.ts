/** Durations and bucket sizes in definitions: "30m", "12h", "7d", "2w", or whole milliseconds. */
import { DAY, HOUR } from '../core/clock.ts';
import { Errors } from '../core/errors.ts';
import { memoByText } from '../core/memo.ts';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: HOUR, d: DAY, w: 7 * DAY };

/** Read once per text: a window trait's duration is read at every evaluation of what tests it. */
const parseText = memoByText((d: string): number | undefined => {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(d.trim());
  const ms = m ? Math.round(Number(m[1]) * UNITS[m[2]!]!) : undefined;
  return ms !== undefined && ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
});

/** Milliseconds of a duration, or undefined when it cannot be read or is not positive. */
export function parseDuration(d: unknown): number | undefined {
  if (typeof d === 'number') return Number.isSafeInteger(d) && d > 0 ? d : undefined;
  if (typeof d !== 'string') return undefined;
  return parseText(d);
}

/**
 * The milliseconds of a definition's duration field, for aggregator
 * factories: a definition that skipped validation gets a clear error here
 * rather than NaN arithmetic later.
 */
export function requireDuration(def: { name?: string; kind?: string }, field: 'window' | 'halfLife', raw: unknown): number {
  const ms = parseDuration(raw);
  if (ms === undefined) {
    const message = raw === undefined ? `is required for a ${String(def.kind)} trait` : 'is not a valid duration';
    throw Errors.invalidConfig(`trait "${String(def.name)}"`, [{ path: `/${field}`, message }]);
  }
  return ms;
}

/** The bucket length: an hour unless the definition says "day". */
export const bucketMs = (bucket: 'hour' | 'day' | undefined): number => (bucket === 'day' ? DAY : HOUR);
