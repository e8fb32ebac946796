/**
 * Webhook destinations (`admin`): CRUD at `/v1/destinations`, the delivery
 * log and dead letters of each (`read`), replay of dead letters (`admin`);
 * and audience export of a segment's members (`read`). All stay inside the
 * key's workspace.
 */
import { Readable } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { parseFields } from '../destinations/index.ts';
import type { Portrait } from '../portrait/portrait.ts';
import { authorize } from './auth.ts';
import { maskerFor } from './masking.ts';

// Loose on purpose: the library validates destinations and names every problem (PORTRAIT_DESTINATION_INVALID).
const DestinationBody = Type.Object(
  {},
  {
    additionalProperties: true,
    description:
      'id? (letters, digits, _ and -), url (http or https), secret? (16-256 characters; generated when absent), kinds (segment.entered, segment.exited, tag.entered, tag.exited, profile.updated), segments? (segment names: narrows segment events and profile updates), tags? (defined tags or branches above them: narrows tag events to those tags and the tags below them; an unknown tag is a 400 naming /tags/<i>), enabled? (default true), purpose? (a consent purpose).',
  },
);
const PatchBody = Type.Object({}, { additionalProperties: true, description: 'Any of url, secret, kinds, segments, tags, enabled, purpose.' });
const IdParams = Type.Object({ id: Type.String({ minLength: 1, description: 'The destination id.' }) });
const DeliveryParams = Type.Object({ id: Type.String({ minLength: 1 }), deliveryId: Type.String({ minLength: 1, description: 'The delivery id (`<destination>:<outbox seq>`).' }) });
const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size (default 100, at most 1000).' }));
const After = Type.Optional(Type.Integer({ minimum: 0, description: 'Paging cursor: the `next` value of the previous page.' }));
const DeliveriesQuery = Type.Object({
  status: Type.Optional(Type.Unsafe<'pending' | 'delivered' | 'dead'>({ type: 'string', enum: ['pending', 'delivered', 'dead'], description: 'Only deliveries in this state.' })),
  limit: Limit,
  after: After,
});
const DeadQuery = Type.Object({ replayed: Type.Optional(Type.Boolean({ description: 'List the dead letters already replayed instead (default false).' })), limit: Limit, after: After });
const ExportParams = Type.Object({ name: Type.String({ minLength: 1, description: 'The segment name.' }) });
const ExportQuery = Type.Object({
  format: Type.Optional(Type.Unsafe<'csv' | 'ndjson'>({ type: 'string', enum: ['csv', 'ndjson'], description: 'csv (default) or ndjson.' })),
  fields: Type.Optional(Type.String({ description: 'Comma-separated attribute names to add as columns, e.g. city,plan.' })),
});

const TAGS = ['destinations'];

export function destinationRoutes(app: FastifyInstance, p: Portrait): void {
  app.get('/v1/destinations', { schema: { summary: 'The workspace’s webhook destinations (secrets are not shown)', tags: TAGS } }, async (req) => {
    const { workspace } = await authorize(p, req, 'admin');
    return { destinations: await p.destinations.list(workspace) };
  });

  app.post<{ Body: Static<typeof DestinationBody> }>(
    '/v1/destinations',
    { schema: { summary: 'Create a webhook destination; answers 201 with its secret, shown only here', tags: TAGS, body: DestinationBody } },
    async (req, reply) => {
      const { workspace } = await authorize(p, req, 'admin');
      return reply.status(201).send(await p.destinations.create(workspace, req.body));
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>('/v1/destinations/:id', { schema: { summary: 'One destination', tags: TAGS, params: IdParams } }, async (req) => {
    const { workspace } = await authorize(p, req, 'admin');
    return p.destinations.get(workspace, req.params.id);
  });

  app.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof PatchBody> }>(
    '/v1/destinations/:id',
    { schema: { summary: 'Change a destination (url, secret, kinds, segments, tags, enabled, purpose)', tags: TAGS, params: IdParams, body: PatchBody } },
    async (req) => {
      const { workspace } = await authorize(p, req, 'admin');
      return p.destinations.update(workspace, req.params.id, req.body);
    },
  );

  app.delete<{ Params: Static<typeof IdParams> }>(
    '/v1/destinations/:id',
    { schema: { summary: 'Delete a destination with its delivery log', tags: TAGS, params: IdParams } },
    async (req, reply) => {
      const { workspace } = await authorize(p, req, 'admin');
      await p.destinations.remove(workspace, req.params.id);
      return reply.status(204).send();
    },
  );

  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof DeliveriesQuery> }>(
    '/v1/destinations/:id/deliveries',
    { schema: { summary: 'The delivery log, oldest first, paged, filtered by status', tags: TAGS, params: IdParams, querystring: DeliveriesQuery } },
    async (req) => {
      const { workspace } = await authorize(p, req, 'read');
      const { items, next } = await p.destinations.deliveries(workspace, req.params.id, req.query);
      return next === undefined ? { deliveries: items } : { deliveries: items, next };
    },
  );

  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof DeadQuery> }>(
    '/v1/destinations/:id/dead-letters',
    { schema: { summary: 'Deliveries that failed every attempt, oldest first, paged', tags: TAGS, params: IdParams, querystring: DeadQuery } },
    async (req) => {
      const { workspace } = await authorize(p, req, 'read');
      const { items, next } = await p.destinations.deadLetters(workspace, req.params.id, req.query);
      return next === undefined ? { deadLetters: items } : { deadLetters: items, next };
    },
  );

  app.post<{ Params: Static<typeof IdParams> }>(
    '/v1/destinations/:id/replay',
    { schema: { summary: 'Re-queue every open dead letter of the destination with a fresh attempt budget', tags: TAGS, params: IdParams } },
    async (req) => {
      const { workspace } = await authorize(p, req, 'admin');
      return p.destinations.replay(workspace, req.params.id);
    },
  );

  app.post<{ Params: Static<typeof DeliveryParams> }>(
    '/v1/destinations/:id/dead-letters/:deliveryId/replay',
    { schema: { summary: 'Re-queue one dead letter with a fresh attempt budget', tags: TAGS, params: DeliveryParams } },
    async (req) => {
      const { workspace } = await authorize(p, req, 'admin');
      return p.destinations.replay(workspace, req.params.id, req.params.deliveryId);
    },
  );

  app.get<{ Params: Static<typeof ExportParams>; Querystring: Static<typeof ExportQuery> }>(
    '/v1/segments/:name/export',
    {
      schema: {
        summary: 'Stream a segment’s members as CSV or NDJSON: profile id, identifiers, member since, chosen attributes and computed traits (fields=city,traits.orders); 404 for an unknown segment',
        tags: ['segments'],
        params: ExportParams,
        querystring: ExportQuery,
      },
    },
    async (req, reply) => {
      const principal = await authorize(p, req, 'read');
      const { workspace } = principal;
      const format = req.query.format ?? 'csv';
      const fields = parseFields(req.query.fields);
      const m = maskerFor(p, principal);
      const chunks = await p.exportSegment(req.params.name, { workspace, format, fields, mask: (f, v) => m.value(f, v) });
      const file = `${req.params.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.${format === 'csv' ? 'csv' : 'ndjson'}`;
      return reply
        .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
        .header('content-disposition', `attachment; filename="${file}"`)
        .send(Readable.from(chunks));
    },
  );
}
