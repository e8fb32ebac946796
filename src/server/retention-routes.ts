/** The retention log (`privacy` scope): what each retention pass purged, in the key's workspace. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../portrait/portrait.ts';
import { authorize } from './auth.ts';

const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size (default 100, at most 1000).' })),
  before: Type.Optional(Type.Integer({ minimum: 1, description: 'Paging cursor: the `next` value of the previous page (an entry id).' })),
});

export function retentionRoutes(app: FastifyInstance, p: Portrait): void {
  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/v1/privacy/retention',
    { schema: { summary: 'The retention log: each purge with its time, rule and count, newest first', tags: ['privacy'], querystring: ListQuery } },
    async (req) => {
      const principal = await authorize(p, req, 'privacy');
      const limit = req.query.limit ?? 100;
      const entries = await p.retentionLog({ workspace: principal.workspace, limit, before: req.query.before });
      const last = entries[entries.length - 1];
      return {
        rules: p.config.privacy.retention.rules.filter((r) => r.workspace === undefined || r.workspace === principal.workspace),
        inactiveProfileDays: p.config.privacy.retention.inactiveProfileDays ?? null,
        entries,
        ...(entries.length >= limit && last !== undefined ? { next: last.id } : {}),
      };
    },
  );
}
