/**
 * Reads message times: ISO 8601 strings or epoch milliseconds, to epoch ms.
 * A hand-written parser rather than `Date.parse`, which also accepts
 * non-ISO forms ("March 7 2020") and reads zone-less times in the server's
 * local zone; here a time without a zone offset is UTC, whatever the host.
 */

/** The largest distance from 1970 a JavaScript Date can represent (ms). */
export const MAX_EPOCH_MS = 8.64e15;

// YYYY-MM-DD, optionally followed by T (or a space) hh:mm[:ss[.fff…]] and a zone (Z, ±hh, ±hhmm, ±hh:mm).
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

/** Longer strings cannot be an ISO 8601 time; checking first bounds the work on hostile input. */
const MAX_TIME_STRING = 40;

/**
 * Converts a message time to epoch ms (whole milliseconds), or returns
 * `undefined` when it is neither a valid ISO 8601 string nor a finite number
 * of milliseconds within the range of a Date.
 */
export function parseTime(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) && Math.abs(value) <= MAX_EPOCH_MS ? Math.floor(value) : undefined;
  }
  if (typeof value !== 'string' || value.length > MAX_TIME_STRING) return undefined;
  return parseCanonical(value) ?? parseIso(value);
}

/**
 * The form every SDK sends (`Date.prototype.toISOString`: `YYYY-MM-DDTHH:MM:SS.sssZ`,
 * or without the milliseconds), read by character codes: this runs for
 * every message, and is several times faster than the regular expression.
 */
function parseCanonical(s: string): number | undefined {
  const n = s.length;
  if (n !== 24 && n !== 20) return undefined;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 || s.charCodeAt(n - 1) !== 90) {
    return undefined; // not "-", "-", "T", ":", ":", …, "Z"
  }
  let ms = 0;
  if (n === 24) {
    if (s.charCodeAt(19) !== 46) return undefined; // "."
    ms = digits(s, 20, 3);
  }
  return compose(digits(s, 0, 4), digits(s, 5, 2), digits(s, 8, 2), digits(s, 11, 2), digits(s, 14, 2), digits(s, 17, 2), ms, 0);
}

/** The decimal number in `s[at, at + count)`, or NaN if any character is not a digit. */
function digits(s: string, at: number, count: number): number {
  let v = 0;
  for (let i = at; i < at + count; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return v;
}

/** Every ISO 8601 form accepted (see `ISO_8601`). */
function parseIso(s: string): number | undefined {
  const m = ISO_8601.exec(s);
  if (m === null) return undefined;
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const offHours = Number(m[10]);
    const offMinutes = m[11] === undefined ? 0 : Number(m[11]);
    if (offHours > 23 || offMinutes > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offHours * 60 + offMinutes);
  }
  return compose(
    Number(m[1]),
    Number(m[2]),
    Number(m[3]),
    m[4] === undefined ? 0 : Number(m[4]),
    m[5] === undefined ? 0 : Number(m[5]),
    m[6] === undefined ? 0 : Number(m[6]),
    m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0').slice(0, 3)),
    offsetMinutes,
  );
}

/** Epoch ms of a UTC+offset calendar time, or undefined if a field is out of range (NaN included). */
function compose(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
  offsetMinutes: number,
): number | undefined {
  // Written as negated comparisons so that NaN fails them too.
  if (!(year >= 0 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month))) return undefined;
  if (!(hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59 && ms >= 0)) return undefined;
  return (
    daysFromCivil(year, month, day) * 86_400_000 +
    hour * 3_600_000 +
    (minute - offsetMinutes) * 60_000 +
    second * 1000 +
    ms
  );
}

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(y: number, m: number): number {
  return m === 2 && isLeapYear(y) ? 29 : (DAYS_IN_MONTH[m - 1] ?? 0);
}

/**
 * Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
 * `days_from_civil`). Unlike `Date.UTC` it does not map years 0–99 to 1900–1999.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}
