/**
 * Reading profiles: `GET /v1/profiles/{idType}/{id}` (with `?at=` for a past
 * time), and the records around a profile: its events, history, merges,
 * identity links and attribute conflicts; consent and scores, read (`read`
 * scope) and recorded (`write` scope). Everything stays inside the key's workspace.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Errors, PortraitError } from '../core/errors.ts';
import type { Portrait } from '../portrait/portrait.ts';
import type { Masker } from '../privacy/index.ts';
import { authorize } from './auth.ts';
import { maskerFor } from './masking.ts';

function parseTime(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw new PortraitError('PORTRAIT_HTTP_BAD_TIME', `"${name}" must be an ISO 8601 time or epoch milliseconds, not "${v}".`, 400);
  return t;
}

const ProfileParams = Type.Object({
  idType: Type.String({ description: 'user_id, anonymous_id, email, profile_id, group_id or external:<type>' }),
  id: Type.String({ description: 'The identifier value.' }),
});
type ProfileParams = Static<typeof ProfileParams>;

const Time = (description: string) => Type.Optional(Type.String({ description: `${description} (ISO 8601 or epoch milliseconds).` }));
const Limit = (max: number, dflt: number) => Type.Optional(Type.Integer({ minimum: 1, maximum: max, description: `Page size (default ${dflt}, at most ${max}).` }));
const Before = Type.Optional(Type.Integer({ minimum: 0, description: 'Paging cursor: the `next` value of the previous page (a log position).' }));

const AtQuery = Type.Object({ at: Time('Return the profile as of this time') });
const EventsQuery = Type.Object({
  name: Type.Optional(Type.String({ description: 'Only events with this name (track event, or page/screen name).' })),
  from: Time('Only events at or after this time'),
  to: Time('Only events at or before this time'),
  limit: Limit(1000, 50),
  before: Before,
});
const HistoryQuery = Type.Object({ limit: Limit(1000, 100), before: Before });

const TAGS = ['profiles'];

export function profileRoutes(app: FastifyInstance, p: Portrait): void {
  app.get<{ Params: ProfileParams; Querystring: Static<typeof AtQuery> }>(
    '/v1/profiles/:idType/:id',
    { schema: { summary: 'Read a profile', tags: TAGS, params: ProfileParams, querystring: AtQuery } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      const { idType, id } = req.params;
      const view = await p.profile(idType, id, { workspace: principal.workspace, at: parseTime('at', req.query.at) });
      if (view === undefined) throw Errors.profileNotFound(idType, id);
      const masked = maskerFor(p, principal).withAttributes(view);
      // Current memberships (not as of `at`: membership history is at /memberships).
      return req.query.at === undefined ? { ...masked, ...(await p.segments.ofProfile(view)) } : masked;
    },
  );

  app.get<{ Params: ProfileParams; Querystring: Static<typeof EventsQuery> }>(
    '/v1/profiles/:idType/:id/events',
    { schema: { summary: "A profile's events, newest first, paged", tags: TAGS, params: ProfileParams, querystring: EventsQuery } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      const { idType, id } = req.params;
      const q = req.query;
      const from = parseTime('from', q.from);
      const to = parseTime('to', q.to);
      const page = await p.events(idType, id, { workspace: principal.workspace, name: q.name, from, to, limit: q.limit, before: q.before });
      const m = maskerFor(p, principal);
      return { ...page, events: page.events.map((e) => ({ ...e, record: m.event(e.record) })) };
    },
  );

  app.get<{ Params: ProfileParams; Querystring: Static<typeof HistoryQuery> }>(
    '/v1/profiles/:idType/:id/history',
    { schema: { summary: "Changes of a profile's attributes and computed traits, newest first, paged", tags: TAGS, params: ProfileParams, querystring: HistoryQuery } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      const { idType, id } = req.params;
      const limit = req.query.limit ?? 100;
      const m = maskerFor(p, principal);
      const history = (await p.history(idType, id, { workspace: principal.workspace, limit, before: req.query.before })).map((h) => ({ ...h, changes: m.changes(h.changes) }));
      const last = history[history.length - 1];
      return history.length >= limit && last !== undefined ? { history, next: last.position } : { history };
    },
  );

  app.get<{ Params: ProfileParams }>(
    '/v1/profiles/:idType/:id/consent',
    { schema: { summary: "A profile's consent per configured purpose", tags: TAGS, params: ProfileParams } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      return p.consent(req.params.idType, req.params.id, { workspace: principal.workspace });
    },
  );

  app.put<{ Params: ProfileParams; Body: unknown }>(
    '/v1/profiles/:idType/:id/consent',
    {
      schema: {
        summary: 'Record consent decisions ({"marketing": false}); appended to the event log as an identify with context.consent, applied by the engine',
        tags: TAGS,
        params: ProfileParams,
        body: Type.Record(Type.String(), Type.Unknown(), { description: 'Purposes (privacy.purposes) to true or false.' }),
      },
    },
    async (req, reply) => {
      const principal = await authorize(p, req, 'write');
      const r = await p.setConsent(req.params.idType, req.params.id, req.body, { workspace: principal.workspace });
      return reply.code(202).send(r);
    },
  );

  app.get<{ Params: ProfileParams }>(
    '/v1/profiles/:idType/:id/scores',
    { schema: { summary: "A profile's declared scores (model outputs) with the time, message and model of each", tags: TAGS, params: ProfileParams } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      return p.scores(req.params.idType, req.params.id, { workspace: principal.workspace });
    },
  );

  app.put<{ Params: ProfileParams; Body: unknown }>(
    '/v1/profiles/:idType/:id/scores',
    {
      schema: {
        summary: 'Record scores ({"churn": 0.82} or {"churn": {"value": 0.82, "model": "churn-v3"}}); appended to the event log as an identify with context.scores, applied by the engine',
        tags: TAGS,
        params: ProfileParams,
        body: Type.Record(Type.String(), Type.Unknown(), { description: 'Declared scores (the scores setting) to a number or {value, model}.' }),
      },
    },
    async (req, reply) => {
      const principal = await authorize(p, req, 'write');
      const r = await p.setScores(req.params.idType, req.params.id, req.body, { workspace: principal.workspace });
      return reply.code(202).send(r);
    },
  );

  // Lists read the same way: the profile by identifier, the caller's workspace, one library call.
  const lists: Array<[string, string, (idType: string, id: string, o: { workspace: string }, m: Masker) => Promise<unknown[]>]> = [
    ['merges', 'Merges and unmerges the profile took part in', (t, i, o) => p.merges(t, i, o)],
    ['links', 'The identity links that hold the profile together', (t, i, o) => p.links(t, i, o)],
    ['conflicts', 'Attribute values that were not applied (stale, set-once, wrong type)', async (t, i, o, m) => (await p.attributeConflicts(t, i, o)).map((c) => m.conflict(c))],
  ];
  for (const [name, summary, read] of lists) {
    app.get<{ Params: ProfileParams }>(`/v1/profiles/:idType/:id/${name}`, { schema: { summary, tags: TAGS, params: ProfileParams } }, async (req) => {
      const principal = await authorize(p, req, 'read');
      return { [name]: await read(req.params.idType, req.params.id, { workspace: principal.workspace }, maskerFor(p, principal)) };
    });
  }
}
