/**
 * Quarantine: list (`read`), inspect (`read`) and re-submit (`admin`) the
 * messages that failed validation, within the key's workspace.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../core/errors.ts';
import type { Portrait } from '../portrait/portrait.ts';
import { authorize } from './auth.ts';
import { maskerFor } from './masking.ts';

const Status = Type.Union([Type.Literal('open'), Type.Literal('resubmitted')], { description: 'Which rows (default open).' });
const ListQuery = Type.Object({
  status: Type.Optional(Status),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size (default 100, at most 1000).' })),
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'Paging cursor: the `next` value of the previous page (a quarantine id).' })),
});
const IdParams = Type.Object({ id: Type.Integer({ minimum: 1, description: 'The quarantine id.' }) });
const ResubmitBody = Type.Object(
  { message: Type.Optional(Type.Unknown({ description: 'The fixed message; when absent the message is re-submitted as it was.' })) },
  { description: 'Optional: `{ "message": <fixed message> }`; an empty body re-submits the message as it was.' },
);

const TAGS = ['quarantine'];

export function quarantineRoutes(app: FastifyInstance, p: Portrait): void {
  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/v1/quarantine',
    { schema: { summary: 'Quarantined messages, oldest first, paged', tags: TAGS, querystring: ListQuery } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      const limit = req.query.limit ?? 100;
      const m = maskerFor(p, principal);
      const quarantined = (await p.quarantined({ workspace: principal.workspace, status: req.query.status, limit, after: req.query.after })).map((r) => ({ ...r, raw: m.raw(r.raw) }));
      const last = quarantined[quarantined.length - 1];
      return quarantined.length >= limit && last !== undefined ? { quarantined, next: last.id } : { quarantined };
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/quarantine/:id',
    { schema: { summary: 'Inspect one quarantined message', tags: TAGS, params: IdParams } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      const row = await p.quarantinedById(req.params.id, { workspace: principal.workspace });
      if (row === undefined) throw Errors.quarantineNotFound(req.params.id);
      return { ...row, raw: maskerFor(p, principal).raw(row.raw) };
    },
  );

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof ResubmitBody> | undefined }>(
    '/v1/quarantine/:id/resubmit',
    {
      schema: {
        summary: 'Re-submit a quarantined message, as it was or fixed',
        description: 'Answers 200 with the outcome: accepted, duplicate, or quarantined again (a new row, with the problems).',
        tags: TAGS,
        params: IdParams,
        body: ResubmitBody,
      },
      // The body is optional: no body re-submits the message as it was.
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
    },
    async (req) => {
      const principal = await authorize(p, req, 'admin');
      const fixed = req.body?.message;
      return p.resubmit(req.params.id, { workspace: principal.workspace, fixed });
    },
  );
}
