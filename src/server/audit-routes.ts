/** `GET /v1/audit`: the audit trail of the key's workspace, newest first, paged (admin scope). */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { PortraitError } from '../core/errors.ts';
import type { Portrait } from '../portrait/portrait.ts';
import { authorize } from './auth.ts';

const AuditQuery = Type.Object({
  from: Type.Optional(Type.String({ description: 'Only records at or after this time (ISO 8601 or epoch ms).' })),
  to: Type.Optional(Type.String({ description: 'Only records at or before this time (ISO 8601 or epoch ms).' })),
  keyId: Type.Optional(Type.String({ maxLength: 64, description: 'Only records of this key id.' })),
  route: Type.Optional(Type.String({ maxLength: 256, description: 'Only records of this route pattern, e.g. /v1/profiles/:idType/:id.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size (default 100, at most 1000).' })),
  before: Type.Optional(Type.Integer({ minimum: 1, description: 'Paging cursor: the `next` of the previous page.' })),
});

function time(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw new PortraitError('PORTRAIT_HTTP_BAD_TIME', `"${name}" must be an ISO 8601 time or epoch milliseconds, not "${v}".`, 400);
  return t;
}

export function auditRoutes(app: FastifyInstance, p: Portrait): void {
  app.get<{ Querystring: Static<typeof AuditQuery> }>(
    '/v1/audit',
    { schema: { summary: 'The audit trail: reads of personal data, admin and privacy actions, newest first, paged', tags: ['privacy'], querystring: AuditQuery } },
    async (req) => {
      const principal = await authorize(p, req, 'admin');
      const q = req.query;
      return p.audit.list({ workspace: principal.workspace, from: time('from', q.from), to: time('to', q.to), keyId: q.keyId, route: q.route, before: q.before, limit: q.limit ?? 100 });
    },
  );
}
