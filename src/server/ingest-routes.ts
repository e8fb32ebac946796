/**
 * Segment-compatible ingest: `POST /v1/track|identify|alias|group|page|screen`
 * and `/v1/batch`, answering `200 {"success":true}` as Segment does.
 * Limits follow Segment's (32 KB a message, 500 KB a batch), configurable.
 */
import type { FastifyInstance } from 'fastify';
import { PortraitError } from '../core/errors.ts';
import { EVENT_TYPES } from '../core/event.ts';
import type { Portrait } from '../portrait/portrait.ts';
import { authorize } from './auth.ts';
import { jsonLongerThan } from './message-size.ts';

export interface IngestLimits {
  maxMessageBytes: number;
  /** Beyond this many records waiting for the engine, ingest answers 429. */
  maxLag: number;
}

function tooLarge(what: string, limit: number): PortraitError {
  return new PortraitError('PORTRAIT_HTTP_MESSAGE_TOO_LARGE', `${what} is larger than ${Math.round(limit / 1024)} KB. Split it or trim its properties.`, 413);
}

export function ingestRoutes(app: FastifyInstance, p: Portrait, limits: IngestLimits): void {
  const backpressure = () => {
    if (p.lag() > limits.maxLag) {
      throw new PortraitError('PORTRAIT_HTTP_BUSY', 'Portrait is catching up with earlier events. Retry after the delay in Retry-After.', 429);
    }
  };

  for (const type of EVENT_TYPES) {
    app.post(`/v1/${type}`, async (req, reply) => {
      const principal = await authorize(p, req, 'write');
      backpressure();
      const body = req.body;
      if (jsonLongerThan(body, limits.maxMessageBytes)) throw tooLarge('The message', limits.maxMessageBytes);
      const message = body !== null && typeof body === 'object' && !Array.isArray(body) ? { ...(body as object), type } : body;
      const r = await p.ingest([message], { workspace: principal.workspace });
      const o = r.outcomes[0]!;
      if (o.status === 'quarantined') {
        return reply.status(400).send({ error: { code: 'PORTRAIT_EVENT_INVALID', message: 'The message is invalid; it was kept in quarantine.', problems: o.problems, quarantineId: o.quarantineId, requestId: req.id } });
      }
      return { success: true };
    });
  }

  app.post('/v1/batch', async (req) => {
    const principal = await authorize(p, req, 'write');
    backpressure();
    const batch = (req.body as { batch?: unknown } | null)?.batch;
    if (Array.isArray(batch)) {
      for (let i = 0; i < batch.length; i++) if (jsonLongerThan(batch[i], limits.maxMessageBytes)) throw tooLarge(`Message ${i} of the batch`, limits.maxMessageBytes);
    }
    const r = await p.ingestBatch(req.body, { workspace: principal.workspace });
    return { success: true, accepted: r.accepted, duplicates: r.duplicates, quarantined: r.quarantined };
  });
}
