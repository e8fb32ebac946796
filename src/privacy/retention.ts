/**
 * Retention: purges events older than each rule's days from the log (by
 * event time, only what the engine has already folded), selects profiles not
 * seen for `inactiveProfileDays` and hands them to the profile deletion, and
 * writes one retention-log row per workspace and rule (counts, never personal
 * data). Profiles keep the aggregates they computed from purged events.
 */
import { DAY } from '../core/clock.ts';
import type { ResolvedConfig } from '../config/index.ts';
import type { EventLog, PurgeFilter } from '../log/event-log.ts';
import type { RetentionLogEntry, RetentionTable } from '../storage/privacy-tables.ts';

export type RetentionConfig = ResolvedConfig['privacy']['retention'];
export type RetentionRule = RetentionConfig['rules'][number];

/** Deletes one profile (and what hangs off it): built by erasure, injected here. */
export type DeleteProfile = (workspace: string, profileId: string) => Promise<void>;

export interface RetentionDeps {
  log: EventLog;
  table: RetentionTable;
  config: RetentionConfig;
  now: number;
  /** The last position the engine has folded: later events are left for it. */
  committed: number;
  deleteProfile?: DeleteProfile;
  /** Profiles deleted in one run at most (default 10,000); the next run continues. */
  maxProfiles?: number;
}

export interface RetentionReport {
  dryRun: boolean;
  /** Per rule and workspace: events purged (or, dry, that would be). */
  events: Array<{ rule: RetentionRule; workspace: string; purged: number }>;
  /** Per workspace: inactive profiles deleted (or, dry, selected). */
  profiles: Array<{ workspace: string; purged: number }>;
  /** Set when inactive profiles were selected but no deletion is wired. */
  profilesSkipped?: string;
}

/** One retention pass. A dry run counts and changes nothing (and writes no log row). */
export async function runRetention(d: RetentionDeps, opts: { dryRun?: boolean } = {}): Promise<RetentionReport> {
  const dryRun = opts.dryRun === true;
  const report: RetentionReport = { dryRun, events: [], profiles: [] };
  const entries: Array<Omit<RetentionLogEntry, 'id'>> = [];
  for (const rule of d.config.rules) {
    const filter: PurgeFilter = { before: d.now - rule.days * DAY, upTo: d.committed, workspace: rule.workspace, type: rule.type, event: rule.event };
    const counts = await d.log.purge(filter, { dryRun });
    const rows = counts.size > 0 ? [...counts] : [[rule.workspace ?? '*', 0] as [string, number]];
    for (const [workspace, purged] of rows) {
      report.events.push({ rule, workspace, purged });
      entries.push({ time: d.now, workspace, kind: 'events', rule: JSON.stringify(rule), purged });
    }
  }
  const days = d.config.inactiveProfileDays;
  if (days !== undefined) {
    const inactive = await d.table.inactiveProfiles(d.now - days * DAY, { limit: d.maxProfiles ?? 10_000 });
    const counts = new Map<string, number>();
    if (!dryRun && d.deleteProfile === undefined && inactive.length > 0) {
      report.profilesSkipped = `${inactive.length} inactive profiles were selected, but no profile deletion is wired into this instance`;
    } else {
      for (const { workspace, id } of inactive) {
        if (!dryRun) await d.deleteProfile!(workspace, id);
        counts.set(workspace, (counts.get(workspace) ?? 0) + 1);
      }
    }
    const rows = counts.size > 0 ? [...counts] : [['*', 0] as [string, number]];
    for (const [workspace, purged] of rows) {
      report.profiles.push({ workspace, purged });
      entries.push({ time: d.now, workspace, kind: 'profiles', rule: JSON.stringify({ inactiveProfileDays: days }), purged });
    }
  }
  if (!dryRun && entries.length > 0) await d.table.append(entries);
  return report;
}
