/**
 * `GET /metrics` in Prometheus text format: messages received, accepted,
 * quarantined (rejected) and duplicate; engine lag; the time from a durable
 * append to the engine's commit of it; profile count. One registry per
 * server, so several servers in one process never share counters.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Portrait } from '../portrait/portrait.ts';

export function metricsRoutes(app: FastifyInstance, p: Portrait): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'portrait_' });
  const fromStats = (name: string, help: string, pick: (s: ReturnType<Portrait['stats']>) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        // Counters only go up: set them to the library's running totals at each scrape.
        this.reset();
        this.inc(pick(p.stats()));
      },
    });
  fromStats('portrait_events_received_total', 'Messages received by ingest.', (s) => s.received);
  fromStats('portrait_events_accepted_total', 'Messages appended to the event log.', (s) => s.accepted);
  fromStats('portrait_events_rejected_total', 'Messages quarantined as invalid.', (s) => s.quarantined);
  fromStats('portrait_events_duplicate_total', 'Messages acknowledged as duplicates (no effect).', (s) => s.duplicates);
  fromStats('portrait_events_suppressed_total', 'Messages acknowledged but refused: they name an erased person (suppression list).', (s) => s.suppressed);
  new Gauge({
    name: 'portrait_engine_lag_records',
    help: 'Log records appended but not yet committed by the engine.',
    registers: [registry],
    collect() {
      this.set(p.lag());
    },
  });
  new Gauge({
    name: 'portrait_profiles',
    help: 'Profiles in the store (all workspaces).',
    registers: [registry],
    async collect() {
      this.set(await p.profileCount());
    },
  });
  const latency = new Histogram({
    name: 'portrait_processing_latency_seconds',
    help: 'Time from a durable append to the commit of its effects on profiles.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const unsubscribe = p.onProcessed((ms) => latency.observe(ms / 1000));
  app.addHook('onClose', async () => unsubscribe());

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['operations'] } }, async (_req, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
