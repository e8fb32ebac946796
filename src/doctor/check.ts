/** What one doctor check reports: a status, what was found, and how to fix it. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  /** Short name of what was checked, e.g. "config", "state.db". */
  name: string;
  status: CheckStatus;
  /** What was found. */
  message: string;
  /** What to do about it (warn and fail only). */
  fix?: string;
}

export const ok = (name: string, message: string): CheckResult => ({ name, status: 'ok', message });
export const warn = (name: string, message: string, fix: string): CheckResult => ({ name, status: 'warn', message, fix });
export const fail = (name: string, message: string, fix: string): CheckResult => ({ name, status: 'fail', message, fix });

/** The message of anything thrown. */
export function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
