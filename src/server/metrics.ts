/**
 * `GET /metrics` in Prometheus text format: messages received, accepted,
 * quarantined (rejected) and duplicate; engine lag; the time from a durable
 * append to the engine's commit of it; ingest requests waiting for their
 * turn; profile count. One registry per server, so several servers in one
 * process never share counters.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isPortraitError } from '../core/errors.ts';
import type { DestinationHealth, Destinations } from '../destinations/index.ts';
import type { Portrait } from '../portrait/portrait.ts';

/** `ingestWaiting`: how many ingest requests wait for their turn (src/server/turns.ts). */
export function metricsRoutes(app: FastifyInstance, p: Portrait, ingestWaiting: () => number = () => 0): void {
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
    name: 'portrait_ingest_waiting_requests',
    help: 'Ingest requests received but waiting for their turn on the event loop (one starts per turn, between reads).',
    registers: [registry],
    collect() {
      this.set(ingestWaiting());
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
  const destinations = destinationGauges(p, registry, (e) => app.log.warn({ err: e }, 'metrics: reading the destinations failed; their gauges are left out of this scrape'));

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['operations'] } }, async (_req, reply) => {
    destinations.scrape();
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}

/**
 * Webhook destinations, one series per destination (labels workspace and
 * destination): what waits, for how long, and what was given up. One read
 * of the store serves every gauge of a scrape. None without destinations
 * (a backend that keeps none). When the store cannot be read, the scrape
 * goes on without them and the failure is logged.
 */
function destinationGauges(p: Portrait, registry: Registry, failed: (e: unknown) => void): { scrape: () => void } {
  let store: Destinations | undefined;
  try {
    store = p.destinations;
  } catch (e) {
    if (!isPortraitError(e)) throw e;
  }
  let current: Promise<DestinationHealth[]> = Promise.resolve([]);
  const labelNames = ['workspace', 'destination'] as const;
  const gauge = (name: string, help: string, value: (h: DestinationHealth, now: number) => number) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        this.reset();
        const now = Date.now();
        for (const h of await current) this.set({ workspace: h.workspace, destination: h.destination }, value(h, now));
      },
    });
  if (store !== undefined) {
    gauge('portrait_destination_enabled', 'Whether the destination is enabled (1) or paused (0).', (h) => (h.enabled ? 1 : 0));
    gauge('portrait_destination_pending_deliveries', 'Deliveries waiting for an attempt, first or retry.', (h) => h.pending);
    gauge('portrait_destination_oldest_pending_seconds', 'Age of the oldest pending delivery (0 when none waits).', (h, now) => (h.oldestPendingAt === null ? 0 : Math.max(0, (now - h.oldestPendingAt) / 1000)));
    gauge('portrait_destination_dead_letters', 'Deliveries given up after their last attempt and not replayed.', (h) => h.dead);
    gauge('portrait_destination_undispatched_notifications', "Notifications of the destination's workspace not yet turned into its deliveries (or passed over by its filters).", (h) => h.undispatched);
  }
  const read = (s: Destinations) =>
    s.health().catch((e: unknown) => {
      failed(e);
      return [];
    });
  return { scrape: () => void (current = store === undefined ? Promise.resolve([]) : read(store)) };
}
