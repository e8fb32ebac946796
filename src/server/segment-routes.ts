/**
 * Segments over HTTP: definitions (list and read with `read`; validate with
 * `read`; create, replace and remove with `admin`, as definitions apply to
 * every workspace), members paged by profile id, size history, an
 * explanation for one profile, and a profile's membership history.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../core/errors.ts';
import type { Portrait } from '../portrait/portrait.ts';
import type { DefinitionKind } from '../segments/index.ts';
import { authorize } from './auth.ts';
import { maskerFor } from './masking.ts';
import { namedByPath } from './named-body.ts';

// Loose on purpose: the library checks definitions and names every problem with its path.
export const DefinitionBody = Type.Object(
  {},
  { additionalProperties: true, description: 'A definition: name, condition (text such as "last_seen within 7 days", or the JSON form), description.' },
);
export const NameParams = Type.Object({ name: Type.String({ minLength: 1, description: 'The name (for tags, URL-encode the slashes: interest%2Fsports).' }) });
export const ExplainParams = Type.Object({
  name: Type.String({ minLength: 1 }),
  idType: Type.String({ description: 'user_id, anonymous_id, email, profile_id, group_id or external:<type>' }),
  id: Type.String(),
});
export const PageQuery = Type.Object({
  after: Type.Optional(Type.String({ description: 'Paging cursor: the `next` value of the previous page (a profile id).' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'Page size (default 100).' })),
});
const SizesQuery = Type.Object({
  from: Type.Optional(Type.Integer({ minimum: 0, description: 'Epoch ms.' })),
  to: Type.Optional(Type.Integer({ minimum: 0, description: 'Epoch ms.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
});
export const AtQuery = Type.Object({ at: Type.Optional(Type.Integer({ minimum: 0, description: 'Evaluate at this time (epoch ms) instead of now.' })) });

/** The definition CRUD and explanation routes that segments and tags share. */
export function definitionCrud(app: FastifyInstance, p: Portrait, kind: DefinitionKind, base: string): void {
  const tags = [`${kind}s`];
  app.get(base, { schema: { summary: `The ${kind} definitions with status, backfill progress and size`, tags } }, async (req) => {
    const principal = await authorize(p, req, 'read');
    return { [`${kind}s`]: await p.segments.list(kind, { workspace: principal.workspace }) };
  });

  app.post<{ Body: Static<typeof DefinitionBody> }>(`${base}/validate`, { schema: { summary: `Check a ${kind} definition without saving it`, tags, body: DefinitionBody } }, async (req) => {
    await authorize(p, req, 'read');
    const definition = await p.segments.validate(kind, req.body);
    return { valid: true, definition };
  });

  app.get<{ Params: Static<typeof NameParams> }>(`${base}/:name`, { schema: { summary: `One ${kind} definition with status and size`, tags, params: NameParams } }, async (req) => {
    const principal = await authorize(p, req, 'read');
    return p.segments.get(kind, req.params.name, { workspace: principal.workspace });
  });

  app.put<{ Params: Static<typeof NameParams>; Body: Static<typeof DefinitionBody> }>(
    `${base}/:name`,
    {
      schema: {
        summary: `Create or replace a ${kind} (all workspaces)`,
        description: 'The body may leave the name out; when given it must match the path. 201 when created, 200 when replaced; a new or changed rule backfills over every profile (status backfilling, progress), then stays live.',
        tags,
        params: NameParams,
        body: DefinitionBody,
      },
    },
    async (req, reply) => {
      await authorize(p, req, 'admin');
      const r = await p.segments.put(kind, namedByPath(req.body, req.params.name, Errors.segmentNameMismatch));
      return reply.status(r.created ? 201 : 200).send(await p.segments.get(kind, req.params.name));
    },
  );

  app.post<{ Body: Static<typeof DefinitionBody> }>(
    base,
    {
      schema: {
        summary: `Create a ${kind} (all workspaces)`,
        description: `201 with the new definition's status; 409 ${kind === 'tag' ? 'PORTRAIT_TAG_EXISTS' : 'PORTRAIT_SEGMENT_EXISTS'} when one of that name exists (replace it with PUT). A rule-driven one backfills over every profile, then stays live.`,
        tags,
        body: DefinitionBody,
      },
    },
    async (req, reply) => {
      await authorize(p, req, 'admin');
      const r = await p.segments.put(kind, req.body, { create: true });
      return reply.status(201).send(await p.segments.get(kind, r.definition.name));
    },
  );

  app.delete<{ Params: Static<typeof NameParams> }>(`${base}/:name`, { schema: { summary: `Remove a ${kind} (all workspaces)`, tags, params: NameParams } }, async (req, reply) => {
    await authorize(p, req, 'admin');
    await p.segments.remove(kind, req.params.name);
    return reply.status(204).send();
  });

  app.get<{ Params: Static<typeof ExplainParams>; Querystring: Static<typeof AtQuery> }>(
    `${base}/:name/explain/:idType/:id`,
    { schema: { summary: `Why a profile is in or out of a ${kind}: the condition tree with each input's value`, tags, params: ExplainParams, querystring: AtQuery } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      const { name, idType, id } = req.params;
      const answer = await p.segments.explain(kind, name, idType, id, { workspace: principal.workspace, now: req.query.at });
      return { ...answer, explanation: maskerFor(p, principal).explanation(answer.explanation) };
    },
  );
}

export function segmentRoutes(app: FastifyInstance, p: Portrait): void {
  definitionCrud(app, p, 'segment', '/v1/segments');
  const tags = ['segments'];

  app.get<{ Params: Static<typeof NameParams>; Querystring: Static<typeof PageQuery> }>(
    '/v1/segments/:name/members',
    { schema: { summary: "A segment's members by profile id, paged", tags, params: NameParams, querystring: PageQuery } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      return p.segments.members(req.params.name, { workspace: principal.workspace, after: req.query.after, limit: req.query.limit });
    },
  );

  app.get<{ Params: Static<typeof NameParams>; Querystring: Static<typeof SizesQuery> }>(
    '/v1/segments/:name/sizes',
    {
      schema: {
        summary: "A segment's size over time, newest first",
        description: "One point per interval of engine.sizeHistorySeconds (a minute by default) in which the size changed, stamped with the interval's start and holding the last size in it.",
        tags,
        params: NameParams,
        querystring: SizesQuery,
      },
    },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      return { sizes: await p.segments.sizes(req.params.name, { workspace: principal.workspace, ...req.query }) };
    },
  );

  app.get<{ Params: Static<typeof ExplainParams>; Querystring: Static<typeof PageQuery> }>(
    '/v1/profiles/:idType/:id/memberships',
    { schema: { summary: "A profile's segment and tag entries and exits, newest first", tags, params: Type.Omit(ExplainParams, ['name']), querystring: Type.Pick(PageQuery, ['limit']) } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      return { memberships: await p.segments.history(req.params.idType, req.params.id, { workspace: principal.workspace, limit: req.query.limit }) };
    },
  );
}
