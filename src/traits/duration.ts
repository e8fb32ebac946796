/** Durations in definitions: "30m", "12h", "7d", "2w", or milliseconds. */
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds of a duration, or undefined when it cannot be read. */
export function parseDuration(d: unknown): number | undefined {
  if (typeof d === 'number') return Number.isInteger(d) && d > 0 ? d : undefined;
  if (typeof d !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(d.trim());
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  return ms > 0 ? ms : undefined;
}
