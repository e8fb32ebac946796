/**
 * Identity administration: `GET /v1/identity/conflicts` (links the merge
 * guards refused, `read`) and `POST /v1/identity/unmerge` (split a profile
 * by removing one link, `admin`).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Portrait } from '../portrait/portrait.ts';
import { authorize } from './auth.ts';

const IdentifierKey = (description: string) => Type.String({ minLength: 1, description: `${description}: an identifier key such as "user:u1" or "anon:a1".` });
const UnmergeBody = Type.Object({ a: IdentifierKey('One side of the link'), b: IdentifierKey('The other side of the link') });

const TAGS = ['identity'];

export function identityRoutes(app: FastifyInstance, p: Portrait): void {
  app.get(
    '/v1/identity/conflicts',
    { schema: { summary: 'Identity links the merge guards refused', tags: TAGS } },
    async (req) => {
      const principal = await authorize(p, req, 'read');
      return { conflicts: await p.identityConflicts({ workspace: principal.workspace }) };
    },
  );

  app.post<{ Body: Static<typeof UnmergeBody> }>(
    '/v1/identity/unmerge',
    {
      schema: {
        summary: 'Remove the link between two identifiers and split their profile',
        description: 'Accepted (202): the unmerge is written to the log and applied by the engine shortly after. The link stays blocked afterwards.',
        tags: TAGS,
        body: UnmergeBody,
      },
    },
    async (req, reply) => {
      const principal = await authorize(p, req, 'admin');
      const r = await p.unmerge(req.body.a, req.body.b, { workspace: principal.workspace });
      return reply.status(202).send(r);
    },
  );
}
