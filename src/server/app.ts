/**
 * The HTTP server: a Fastify app over one Portrait instance. One function
 * per route group; one error handler; JSON logs with request ids.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Portrait } from '../portrait/portrait.ts';
import { registerBodyDecoding } from './decode.ts';
import { errorHandler } from './errors.ts';
import { ingestRoutes, type IngestLimits } from './ingest-routes.ts';
import { profileRoutes } from './profile-routes.ts';

export interface ServerOptions extends Partial<IngestLimits> {
  /** Largest request body, after decompression (bytes). */
  maxBatchBytes?: number;
  logger?: boolean;
}

export function buildServer(p: Portrait, o: ServerOptions = {}): FastifyInstance {
  const app = Fastify({ logger: o.logger ?? false, bodyLimit: o.maxBatchBytes ?? 500 * 1024, requestIdHeader: 'x-request-id' });
  registerBodyDecoding(app);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'PORTRAIT_HTTP_NOT_FOUND', message: `No route ${req.method} ${req.url}.`, requestId: req.id } });
  });
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const lag = p.lag();
    const ready = lag <= (o.maxLag ?? 200_000);
    return reply.status(ready ? 200 : 503).send({ ready, lag });
  });
  ingestRoutes(app, p, { maxMessageBytes: o.maxMessageBytes ?? 32 * 1024, maxLag: o.maxLag ?? 200_000 });
  profileRoutes(app, p);
  return app;
}
