/**
 * The HTTP server: a Fastify app over one Portrait instance. One function
 * per route group; one error handler; JSON logs with request ids; an
 * OpenAPI document generated from the route schemas.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Portrait } from '../portrait/portrait.ts';
import { registerAudit } from './audit.ts';
import { auditRoutes } from './audit-routes.ts';
import { registerBodyDecoding } from './decode.ts';
import { definitionRoutes } from './definition-routes.ts';
import { destinationRoutes } from './destination-routes.ts';
import { errorHandler } from './errors.ts';
import { identityRoutes } from './identity-routes.ts';
import { ingestRoutes, type IngestLimits } from './ingest-routes.ts';
import { metricsRoutes } from './metrics.ts';
import { openApiRoute, registerOpenApi } from './openapi.ts';
import { posthogRoutes } from './posthog-routes.ts';
import { privacyRoutes } from './privacy-routes.ts';
import { profileRoutes } from './profile-routes.ts';
import { quarantineRoutes } from './quarantine-routes.ts';
import { retentionRoutes } from './retention-routes.ts';
import { searchRoutes } from './search-routes.ts';
import { registerSecurity, type SecurityOptions } from './security.ts';
import { segmentRoutes } from './segment-routes.ts';
import { tagRoutes } from './tag-routes.ts';
import { Turns } from './turns.ts';

export interface ServerOptions extends Partial<IngestLimits>, Partial<SecurityOptions> {
  /** Largest request body, after decompression (bytes). */
  maxBatchBytes?: number;
  logger?: boolean;
}

const VERSION = '0.1.0';

export function buildServer(p: Portrait, o: ServerOptions = {}): FastifyInstance {
  const app = Fastify({ logger: o.logger ?? false, bodyLimit: o.maxBatchBytes ?? 500 * 1024, requestIdHeader: 'x-request-id' });
  registerBodyDecoding(app);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'PORTRAIT_HTTP_NOT_FOUND', message: `No route ${req.method} ${req.url}.`, requestId: req.id } });
  });
  const limits: IngestLimits = { maxMessageBytes: o.maxMessageBytes ?? 32 * 1024, maxLag: o.maxLag ?? 200_000 };
  const server = p.config.server;
  registerAudit(app, p);
  registerSecurity(app, p, { corsOrigins: o.corsOrigins ?? server.cors.origins, rateLimitPerSecond: o.rateLimitPerSecond ?? server.rateLimit.perSecond });
  // The OpenAPI plugin must see every route: routes are declared in a plugin registered after it.
  registerOpenApi(app, VERSION);
  void app.register(
    async (api) => {
      openApiRoute(api, app);
      api.get('/healthz', { schema: { summary: 'Liveness', tags: ['operations'] } }, async () => ({ ok: true }));
      api.get('/readyz', { schema: { summary: 'Readiness: 503 while the engine lags beyond the bound', tags: ['operations'] } }, async (_req, reply) => {
        const lag = p.lag();
        const ready = lag <= limits.maxLag;
        return reply.status(ready ? 200 : 503).send({ ready, lag });
      });
      // Ingest takes turns with reads (turns.ts): one request's work per turn of the event loop.
      const turns = new Turns();
      metricsRoutes(api, p, () => turns.queued);
      void api.register(async (ingest) => {
        ingest.addHook('onRequest', turns.hook);
        ingestRoutes(ingest, p, limits);
        posthogRoutes(ingest, p, limits);
      });
      profileRoutes(api, p);
      searchRoutes(api, p);
      identityRoutes(api, p);
      quarantineRoutes(api, p);
      retentionRoutes(api, p);
      definitionRoutes(api, p);
      destinationRoutes(api, p);
      segmentRoutes(api, p);
      tagRoutes(api, p);
      privacyRoutes(api, p);
      auditRoutes(api, p);
    },
  );
  return app;
}
