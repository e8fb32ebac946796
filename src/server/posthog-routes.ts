/**
 * PostHog-compatible capture: `POST /batch/`, `/capture/`, `/e/`, `/i/v0/e/`
 * (and `GET /e/`, `/i/v0/e/` with `?data=<base64 JSON>`), answering
 * `200 {"status":1}` as PostHog does. Events are mapped to Segment messages
 * (src/ingest/posthog.ts); invalid ones are quarantined one by one. The
 * project key (`api_key` / `token` in the body or query) is authenticated like
 * a write key. Routes live in their own plugin scope so they can also read
 * form bodies (`data=...`) and posthog-js' `?compression=gzip-js` bodies.
 */
import { createGunzip } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PortraitError } from '../core/errors.ts';
import { parseFormBody, postHogBodyToSegment } from '../ingest/posthog.ts';
import type { Portrait } from '../portrait/portrait.ts';
import type { Principal } from '../portrait/keys.ts';
import type { IngestLimits } from './ingest-routes.ts';
import { jsonLongerThan } from './message-size.ts';

export const POSTHOG_PATHS = ['/batch/', '/capture/', '/e/', '/i/v0/e/'] as const;

/** Authenticates a PostHog project key as a write key; same 401/403 errors and codes as auth.ts. */
export async function authorizeApiKey(p: Portrait, key: string | undefined): Promise<Principal> {
  if (key === undefined || key === '') {
    throw new PortraitError('PORTRAIT_AUTH_MISSING', 'No API key was sent. Put the write key in "api_key" (or "token") of the body, as PostHog SDKs do.', 401);
  }
  const principal = await p.keys.authenticate(key);
  if (principal === undefined) throw new PortraitError('PORTRAIT_AUTH_INVALID', 'The API key is unknown or revoked. Create one with "portrait keys create".', 401);
  if (!principal.scopes.has('write')) {
    throw new PortraitError('PORTRAIT_AUTH_SCOPE', 'This key lacks the "write" scope. Use a key created with --scopes write.', 403);
  }
  return principal;
}

function headerKey(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
}

export function posthogRoutes(app: FastifyInstance, p: Portrait, limits: IngestLimits): void {
  void app.register(async (scope) => {
    // posthog-js sends `?compression=gzip-js` with a gzip body and no Content-Encoding.
    scope.addHook('preParsing', async (req, _reply, payload) => {
      const q = req.query as Record<string, unknown>;
      if (q.compression !== 'gzip-js' || req.headers['content-encoding']) return payload;
      const out = Object.assign(createGunzip(), { receivedEncodedLength: 0 });
      payload.on('data', (chunk: Buffer) => (out.receivedEncodedLength += chunk.length));
      payload.on('error', (e) => out.destroy(e));
      return payload.pipe(out);
    });
    // Form bodies (`data=<base64>`): JSON first (RudderStack mislabels JSON as form), else kept as text for the mapper.
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      const text = body as string;
      try {
        done(null, JSON.parse(text));
      } catch {
        if (parseFormBody(text) !== undefined) done(null, text);
        else done(new PortraitError('PORTRAIT_EVENT_NOT_JSON', 'The body is neither JSON nor data=<base64 JSON>.', 400), undefined);
      }
    });

    const handle = async (req: FastifyRequest, body: unknown) => {
      const q = req.query as Record<string, unknown>;
      let mapped: ReturnType<typeof postHogBodyToSegment>;
      try {
        mapped = postHogBodyToSegment(body);
      } catch (e) {
        // Authenticate first where we can, so a bad key is a 401 even for a bad body.
        const b = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
        const bodyKey = typeof b.api_key === 'string' ? b.api_key : typeof b.token === 'string' ? b.token : undefined;
        await authorizeApiKey(p, bodyKey ?? (typeof q.api_key === 'string' ? q.api_key : undefined) ?? (typeof q.token === 'string' ? q.token : undefined) ?? headerKey(req));
        throw new PortraitError('PORTRAIT_EVENT_INVALID', (e as Error).message, 400);
      }
      const key = mapped.apiKey ?? (typeof q.api_key === 'string' ? q.api_key : undefined) ?? (typeof q.token === 'string' ? q.token : undefined) ?? headerKey(req);
      const principal = await authorizeApiKey(p, key);
      if (p.lag() > limits.maxLag) {
        throw new PortraitError('PORTRAIT_HTTP_BUSY', 'Portrait is catching up with earlier events. Retry after the delay in Retry-After.', 429);
      }
      mapped.messages.forEach((m, i) => {
        if (jsonLongerThan(m, limits.maxMessageBytes)) {
          throw new PortraitError('PORTRAIT_HTTP_MESSAGE_TOO_LARGE', `Event ${i} is larger than ${Math.round(limits.maxMessageBytes / 1024)} KB. Trim its properties.`, 413);
        }
      });
      if (mapped.messages.length > 0) await p.ingest(mapped.messages, { workspace: principal.workspace });
      return { status: 1 };
    };

    for (const path of [...POSTHOG_PATHS, ...POSTHOG_PATHS.map((x) => x.slice(0, -1))]) {
      scope.post(path, async (req) => handle(req, req.body));
      if (path.startsWith('/e') || path.startsWith('/i/v0/e')) {
        scope.get(path, async (req) => {
          const data = (req.query as Record<string, unknown>).data;
          if (typeof data !== 'string') throw new PortraitError('PORTRAIT_EVENT_INVALID', 'A GET capture needs ?data=<base64 JSON>.', 400);
          return handle(req, { data });
        });
      }
    }
  });
}
