/**
 * Profile search: `POST /v1/profiles/search` with a JSON query, and the same
 * search as `GET /v1/profiles?where=<JSON list>&sort=[-]<field>&limit&cursor&offset`.
 * Needs the `read` scope; searches the key's workspace only.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../core/errors.ts';
import type { Portrait } from '../portrait/portrait.ts';
import { SearchRequest } from '../portrait/search-schema.ts';
import type { SearchPage } from '../portrait/search.ts';
import type { Masker } from '../privacy/index.ts';
import { authorize } from './auth.ts';
import { maskerFor } from './masking.ts';

const SearchQuerystring = Type.Object({
  where: Type.Optional(Type.String({ description: 'The conditions as a JSON list, e.g. [{"field":"attributes.city","op":"eq","value":"Lima"}].' })),
  sort: Type.Optional(Type.String({ description: 'A field to sort by; a leading "-" sorts descending, e.g. -traits.orders.' })),
  limit: Type.Optional(Type.String({ description: 'Page size (default 50, at most 1000).' })),
  cursor: Type.Optional(Type.String({ description: 'The `next` value of the previous page.' })),
  offset: Type.Optional(Type.String({ description: 'Profiles to skip (at most 10000); not with cursor.' })),
});
type SearchQuerystring = Static<typeof SearchQuerystring>;

/** The query-string form as a search request; numbers stay strings when they are not digits, so the checker names them. */
function fromQuerystring(q: SearchQuerystring): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (q.where !== undefined) {
    try {
      out.where = JSON.parse(q.where) as unknown;
    } catch {
      throw Errors.invalidSearch([{ path: '/where', message: 'is not JSON: pass a URL-encoded JSON list of {field, op, value}' }]);
    }
  }
  if (q.sort !== undefined) out.sort = q.sort.startsWith('-') ? { field: q.sort.slice(1), order: 'desc' } : { field: q.sort, order: 'asc' };
  const int = (v: string) => (/^\d{1,9}$/.test(v) ? Number(v) : v);
  if (q.limit !== undefined) out.limit = int(q.limit);
  if (q.offset !== undefined) out.offset = int(q.offset);
  if (q.cursor !== undefined) out.cursor = q.cursor;
  return out;
}

// The schemas document the routes; the library checks the query itself, so that every problem comes with its path and a precise message.
const passThrough = () => (value: unknown) => ({ value });

const TAGS = ['profiles'];

function masked(m: Masker, page: SearchPage): SearchPage {
  return { ...page, items: page.items.map((i) => m.withAttributes(i)) };
}
const SUMMARY = 'Search profiles by attribute and computed trait, sorted and paged, with the total';

export function searchRoutes(app: FastifyInstance, p: Portrait): void {
  app.post<{ Body: Static<typeof SearchRequest> }>(
    '/v1/profiles/search',
    { schema: { summary: SUMMARY, tags: TAGS, body: SearchRequest }, validatorCompiler: passThrough },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      return masked(maskerFor(p, principal), await p.searchProfiles(req.body, { workspace: principal.workspace }));
    },
  );

  app.get<{ Querystring: SearchQuerystring }>(
    '/v1/profiles',
    { schema: { summary: `${SUMMARY} (query-string form)`, tags: TAGS, querystring: SearchQuerystring }, validatorCompiler: passThrough },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      return masked(maskerFor(p, principal), await p.searchProfiles(fromQuerystring(req.query), { workspace: principal.workspace }));
    },
  );
}
