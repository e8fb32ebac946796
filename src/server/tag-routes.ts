/**
 * Tags over HTTP: the taxonomy as a tree with counts, definitions (shared
 * with segments), members, and setting or unsetting a manual tag on a
 * profile (`write`). Tag names hold slashes: URL-encode them (%2F).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../portrait/portrait.ts';
import { authorize } from './auth.ts';
import { definitionCrud, ExplainParams, NameParams, PageQuery } from './segment-routes.ts';

export function tagRoutes(app: FastifyInstance, p: Portrait): void {
  const tags = ['tags'];
  app.get('/v1/tags/tree', { schema: { summary: 'The tag taxonomy as a tree, with member counts per tag and per subtree', tags } }, async (req) => {
    const principal = await authorize(p, req, 'read');
    return { tree: await p.segments.tagTree({ workspace: principal.workspace }) };
  });

  definitionCrud(app, p, 'tag', '/v1/tags');

  app.get<{ Params: Static<typeof NameParams>; Querystring: Static<typeof PageQuery> }>(
    '/v1/tags/:name/members',
    { schema: { summary: "A tag's members (manual and rule-driven), paged", tags, params: NameParams, querystring: PageQuery } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      return p.segments.tagMembers(req.params.name, { workspace: principal.workspace, after: req.query.after, limit: req.query.limit });
    },
  );

  for (const [method, on] of [['PUT', true], ['DELETE', false]] as const) {
    app.route<{ Params: Static<typeof ExplainParams> }>({
      method,
      url: '/v1/tags/:name/profiles/:idType/:id',
      schema: {
        summary: on ? 'Set a manual tag on a profile (a person or a group)' : 'Unset a manual tag from a profile (a person or a group)',
        description: 'Appends the decision to the event log and returns at once: `changed` compares it with the profile as folded so far; the membership, its history and the tag.entered / tag.exited outbox row follow when the engine folds `messageId`.',
        tags,
        params: ExplainParams,
      },
      handler: async (req) => {
        const principal = await authorize(p, req, 'write');
        const { name, idType, id } = req.params;
        return p.segments.tag(name, idType, id, on, { workspace: principal.workspace });
      },
    });
  }
}
