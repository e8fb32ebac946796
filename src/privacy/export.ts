/**
 * Export for the right of access: everything Portrait holds on one person,
 * as one JSON document. Built only from the library's read API, so it shows
 * what every other reader sees and works on every backend those reads do.
 */
import type { IdentityConflict, IdentityLink, MergeRecord } from '../core/identity.ts';
import type { PortraitEvent, Positioned } from '../core/event.ts';
import type { ProfileView } from '../profile/index.ts';
import type { AttributeConflict, HistoryEntry, MembershipChange } from '../storage/index.ts';

/** What the export reads (the Portrait's public reads, narrowed). */
export interface ExportSource {
  profile(idType: string, id: string, o: { workspace: string }): Promise<ProfileView | undefined>;
  events(idType: string, id: string, o: { workspace: string; limit?: number; before?: number }): Promise<{ events: Array<Positioned<PortraitEvent>>; next?: number }>;
  history(idType: string, id: string, o: { workspace: string; limit?: number; before?: number }): Promise<HistoryEntry[]>;
  merges(idType: string, id: string, o: { workspace: string }): Promise<MergeRecord[]>;
  links(idType: string, id: string, o: { workspace: string }): Promise<IdentityLink[]>;
  attributeConflicts(idType: string, id: string, o: { workspace: string }): Promise<AttributeConflict[]>;
  identityConflicts(o: { workspace: string }): Promise<IdentityConflict[]>;
  /** Segment and tag memberships, and their history; undefined where the backend keeps no segments. */
  memberships?(doc: { workspace: string; id: string }): Promise<{ segments: Array<{ name: string; since: string }>; tags: Array<{ tag: string; since: string; source: 'manual' | 'rule' }> }>;
  membershipHistory?(doc: { workspace: string; id: string }): Promise<MembershipChange[]>;
}

export interface PersonExport {
  format: 'portrait.person-export/1';
  exportedAt: string;
  workspace: string;
  profile: ProfileView;
  segments: Array<{ name: string; since: string }>;
  tags: Array<{ tag: string; since: string; source: 'manual' | 'rule' }>;
  membershipHistory: MembershipChange[];
  /** Every event attributed to the person, oldest first. */
  events: Array<{ position: number; event: PortraitEvent }>;
  merges: MergeRecord[];
  links: IdentityLink[];
  /** Recorded changes of attributes and computed traits, oldest first. */
  history: HistoryEntry[];
  attributeConflicts: AttributeConflict[];
  identityConflicts: IdentityConflict[];
  /** Every configured purpose with its decision (time, source, message) or `{ granted: false }`; null when no consent part is wired. */
  consents: unknown;
}

/** Sections other parts add to the export (consents). */
export interface ExportSections {
  consents?: (doc: { workspace: string; id: string }) => Promise<unknown>;
}

const PAGE = 1000;

/** Builds the export of the profile holding an identifier, or undefined when none does. */
export async function buildExport(src: ExportSource, idType: string, id: string, o: { workspace: string; now: number; sections?: ExportSections }): Promise<PersonExport | undefined> {
  const ws = { workspace: o.workspace };
  const profile = await src.profile(idType, id, ws);
  if (profile === undefined) return undefined;
  // Later reads go by profile id, so a merge meanwhile cannot mix in another profile's data.
  const pid = profile.id;
  const doc = { workspace: profile.workspace, id: pid };
  const events: PersonExport['events'] = [];
  for (let before: number | undefined; ; ) {
    const page = await src.events('profile_id', pid, { ...ws, limit: PAGE, before });
    for (const e of page.events) events.push({ position: e.position, event: e.record });
    if (page.next === undefined) break;
    before = page.next;
  }
  events.reverse();
  // One read: entries of one position (a merge and the event that caused it) must not be split by paging.
  const history = await src.history('profile_id', pid, { ...ws, limit: Number.MAX_SAFE_INTEGER });
  history.reverse();
  const ids = profile.identities;
  const idents = new Set([
    ...ids.userIds.map((u) => `user:${u}`),
    ...ids.anonymousIds.map((a) => `anon:${a}`),
    ...ids.emailHashes.map((h) => `email:${h}`),
    ...ids.externalIds.map((x) => `ext:${x.type}:${x.id}`),
  ]);
  const identityConflicts = (await src.identityConflicts(ws)).filter((c) => c.profileA === pid || c.profileB === pid || idents.has(c.a) || idents.has(c.b));
  const m = src.memberships ? await src.memberships(doc) : { segments: [], tags: [] };
  return {
    format: 'portrait.person-export/1',
    exportedAt: new Date(o.now).toISOString(),
    workspace: profile.workspace,
    profile,
    segments: m.segments,
    tags: m.tags,
    membershipHistory: src.membershipHistory ? await src.membershipHistory(doc) : [],
    events,
    merges: await src.merges('profile_id', pid, ws),
    links: await src.links('profile_id', pid, ws),
    history,
    attributeConflicts: await src.attributeConflicts('profile_id', pid, ws),
    identityConflicts,
    consents: o.sections?.consents ? await o.sections.consents(doc) : null,
  };
}
