/**
 * The audit hook: after each answer, a route that asked for the read, admin or
 * privacy scope is recorded (key id, workspace, method, route pattern, status,
 * request id, time). Ingest (write) is not recorded. Records are queued and
 * written in batches by the library's audit trail, off the request path.
 */
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../portrait/portrait.ts';
import { principalOf, scopeAsked } from './auth.ts';

export function registerAudit(app: FastifyInstance, p: Portrait): void {
  app.addHook('onResponse', async (req, reply) => {
    const scope = scopeAsked(req);
    if (scope === undefined || scope === 'write') return;
    const principal = await principalOf(p, req).catch(() => undefined);
    p.audit.record({
      at: Date.now(),
      workspace: principal?.workspace ?? null,
      keyId: principal?.keyId ?? null,
      // A read by a key holding pii saw personal values unmasked.
      scope: scope === 'read' && principal?.scopes.has('pii') ? 'pii' : scope,
      method: req.method,
      // The pattern, never the URL (which may hold an email).
      route: req.routeOptions.url ?? 'unknown',
      status: reply.statusCode,
      requestId: req.id,
    });
  });
  app.addHook('onClose', async () => {
    await p.audit.flush();
  });
}
