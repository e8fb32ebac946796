/** Durations and bucket sizes in definitions: "30m", "12h", "7d", "2w", or whole milliseconds. */
import { DAY, HOUR } from '../core/clock.ts';
import { Errors } from '../core/errors.ts';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: HOUR, d: DAY, w: 7 * DAY };

const parsed = new Map<string, number | undefined>();

/** Milliseconds of a duration, or undefined when it cannot be read or is not positive. */
export function parseDuration(d: unknown): number | undefined {
  if (typeof d === 'number') return Number.isSafeInteger(d) && d > 0 ? d : undefined;
  if (typeof d !== 'string') return undefined;
  // Read once per text: a window trait's duration is read at every evaluation of what tests it.
  if (parsed.has(d)) return parsed.get(d);
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(d.trim());
  const raw = m ? Math.round(Number(m[1]) * UNITS[m[2]!]!) : undefined;
  const ms = raw !== undefined && raw > 0 && Number.isSafeInteger(raw) ? raw : undefined;
  if (parsed.size >= 1000) parsed.clear();
  parsed.set(d, ms);
  return ms;
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
