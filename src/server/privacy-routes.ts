/**
 * The rights of the person over HTTP, all with the `privacy` scope and inside
 * the key's workspace: erasure (`POST /v1/privacy/erase`, then poll the
 * ledger entry), the erasure ledger, and the export of everything held on a
 * person. Erasure answers 501 PORTRAIT_NOT_ON_THIS_BACKEND off SQLite.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../portrait/portrait.ts';
import { authorize } from './auth.ts';

const EraseBody = Type.Object(
  {
    idType: Type.String({ description: 'user_id, anonymous_id, email, profile_id or external:<type>' }),
    id: Type.String({ minLength: 1, description: 'The identifier value.' }),
  },
  { additionalProperties: false },
);
const IdParams = Type.Object({ id: Type.String({ description: 'The erasure id (from POST /v1/privacy/erase).' }) });
const WaitQuery = Type.Object({ wait: Type.Optional(Type.Boolean({ description: 'Answer once the erasure is completed.' })) });
const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size (default 100, at most 1000).' })),
  before: Type.Optional(Type.String({ description: 'Paging cursor: the `next` value of the previous page (an erasure id).' })),
});
const ExportParams = Type.Object({
  idType: Type.String({ description: 'user_id, anonymous_id, email, profile_id or external:<type>' }),
  id: Type.String({ description: 'The identifier value.' }),
});

const TAGS = ['privacy'];

export function privacyRoutes(app: FastifyInstance, p: Portrait): void {
  app.post<{ Body: Static<typeof EraseBody> }>(
    '/v1/privacy/erase',
    {
      schema: {
        summary: 'Erase a person by any identifier',
        description:
          'Suppresses the identifiers at once (later events naming them are acknowledged and dropped), then the engine removes the profile, its events and everything derived. Answers 202 with the pending ledger entry; poll GET /v1/privacy/erasures/{id} (or add ?wait=true there).',
        tags: TAGS,
        body: EraseBody,
      },
    },
    async (req, reply) => {
      const principal = await authorize(p, req, 'privacy');
      const entry = await p.privacy.erase(req.body.idType, req.body.id, { workspace: principal.workspace, keyId: principal.keyId });
      return reply.status(202).header('location', `/v1/privacy/erasures/${entry.id}`).send(entry);
    },
  );

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/v1/privacy/erasures',
    { schema: { summary: 'The erasure ledger, newest first, paged', tags: TAGS, querystring: ListQuery } },
    async (req) => {
      const principal = await authorize(p, req, 'privacy');
      const limit = req.query.limit ?? 100;
      const erasures = await p.privacy.erasures({ workspace: principal.workspace, limit, before: req.query.before });
      const last = erasures[erasures.length - 1];
      return erasures.length >= limit && last !== undefined ? { erasures, next: last.id } : { erasures };
    },
  );

  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof WaitQuery> }>(
    '/v1/privacy/erasures/:id',
    { schema: { summary: 'One erasure: pending or completed, with the rows removed per kind', tags: TAGS, params: IdParams, querystring: WaitQuery } },
    async (req) => {
      const principal = await authorize(p, req, 'privacy');
      const o = { workspace: principal.workspace };
      return req.query.wait === true ? p.privacy.waitFor(req.params.id, o) : p.privacy.erasure(req.params.id, o);
    },
  );

  app.get<{ Params: Static<typeof ExportParams> }>(
    '/v1/privacy/export/:idType/:id',
    { schema: { summary: 'Everything held on a person (right of access), as JSON', tags: TAGS, params: ExportParams } },
    async (req) => {
      const principal = await authorize(p, req, 'privacy');
      return p.privacy.export(req.params.idType, req.params.id, { workspace: principal.workspace });
    },
  );
}
