/** Reading profiles: `GET /v1/profiles/{idType}/{id}` (with `?at=` for a past time). */
import type { FastifyInstance } from 'fastify';
import { Errors, PortraitError } from '../core/errors.ts';
import type { Portrait } from '../portrait/portrait.ts';
import { authorize } from './auth.ts';

function parseAt(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw new PortraitError('PORTRAIT_HTTP_BAD_TIME', `"at" must be an ISO 8601 time or epoch milliseconds, not "${v}".`, 400);
  return t;
}

export function profileRoutes(app: FastifyInstance, p: Portrait): void {
  app.get<{ Params: { idType: string; id: string }; Querystring: { at?: string } }>('/v1/profiles/:idType/:id', async (req) => {
    const principal = await authorize(p, req, 'read');
    const { idType, id } = req.params;
    const view = await p.profile(idType, id, { workspace: principal.workspace, at: parseAt(req.query.at) });
    if (view === undefined) throw Errors.profileNotFound(idType, id);
    return view;
  });
}
