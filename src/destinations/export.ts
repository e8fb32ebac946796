/**
 * Audience export: a segment's members as CSV or NDJSON, produced page by
 * page from the database so memory stays constant whatever the segment's size.
 */
import { Errors } from '../core/errors.ts';
import type { Json } from '../core/event.ts';
import type { ProfileDoc } from '../core/profile.ts';
import { openDoc, type ValueSealer } from '../storage/sealer.ts';
import type { DestinationStore } from './destination-store.ts';

export type ExportFormat = 'csv' | 'ndjson';

export interface ExportOptions {
  format: ExportFormat;
  /** Fields to include as columns: attribute names (default reading), or what `read` understands. */
  fields?: readonly string[];
  /** Reads one field of a member's profile (default: the attribute of that name). */
  read?: (doc: ProfileDoc, field: string) => Json | undefined;
  /** Members read per query (default 500). */
  pageSize?: number;
  /** Opens sealed personal values read from the table. */
  sealer?: ValueSealer;
  /** Applied to each exported attribute value (masking for callers without the pii scope). */
  mask?: (field: string, value: Json) => Json;
}

const FIELD = /^[^\s,]{1,128}$/;
/** The prefix naming a computed trait among export fields (`traits.orders`). */
export const TRAIT = 'traits.';

/** Checks a comma-separated `fields=` value; throws PORTRAIT_EXPORT_FIELD_INVALID. */
export function parseFields(text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') return [];
  const fields = text.split(',').map((f) => f.trim());
  for (const f of fields) if (!FIELD.test(f)) throw Errors.exportFieldInvalid(f);
  return fields;
}

/** RFC 4180 quoting: fields with a comma, quote or line break are quoted, quotes doubled. */
export function csvField(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The export as text chunks (one per page), header first for CSV. */
export async function* exportSegment(store: Pick<DestinationStore, 'membersPage'>, workspace: string, segment: string, o: ExportOptions): AsyncGenerator<string> {
  const fields = o.fields ?? [];
  const pageSize = o.pageSize ?? 500;
  const read = o.read ?? ((doc: ProfileDoc, f: string) => doc.attributes[f]?.v);
  if (o.format === 'csv') yield `${['profile_id', 'identifiers', 'member_since', ...fields].map(csvField).join(',')}\r\n`;
  let after = '';
  for (;;) {
    const page = await store.membersPage(workspace, segment, after, pageSize);
    if (page.length === 0) return;
    let chunk = '';
    for (const m of page) {
      const doc = m.doc === null ? undefined : openDoc(o.sealer, JSON.parse(m.doc) as ProfileDoc);
      const identifiers = doc?.identifiers ?? [];
      const values = fields.map((f) => {
        const v = (doc === undefined ? undefined : read(doc, f)) ?? null;
        return o.mask === undefined || v === null ? v : o.mask(f, v);
      });
      const since = new Date(m.since).toISOString();
      if (o.format === 'csv') chunk += `${[m.profileId, identifiers.join(' '), since, ...values].map(csvField).join(',')}\r\n`;
      else {
        const attributes = Object.fromEntries(fields.flatMap((f, i) => (f.startsWith(TRAIT) ? [] : [[f, values[i]]])));
        const traits = Object.fromEntries(fields.flatMap((f, i) => (f.startsWith(TRAIT) ? [[f.slice(TRAIT.length), values[i]]] : [])));
        chunk += `${JSON.stringify({ profileId: m.profileId, identifiers, memberSince: since, attributes, ...(Object.keys(traits).length > 0 ? { traits } : {}) })}\n`;
      }
    }
    after = page[page.length - 1]!.profileId;
    yield chunk;
    if (page.length < pageSize) return;
  }
}
