/**
 * The OpenAPI 3 document, generated from the route schemas, at
 * `/openapi.json`, and a page that renders it at `/docs`. Register it on the
 * root before the routes, so it sees every one of them.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export function registerOpenApi(app: FastifyInstance, version: string): void {
  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Portrait API', version, description: 'Segment-compatible ingest and real-time user profiles.' },
      components: {
        securitySchemes: {
          basic: { type: 'http', scheme: 'basic', description: 'The API key as user name, empty password (what Segment SDKs send).' },
          bearer: { type: 'http', scheme: 'bearer', description: 'The API key as a bearer token.' },
        },
      },
      security: [{ basic: [] }, { bearer: [] }],
    },
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });
}

/** `GET /openapi.json`: the generated document. */
export function openApiRoute(api: FastifyInstance, root: FastifyInstance): void {
  api.get('/openapi.json', { schema: { hide: true } }, async () => root.swagger());
}
