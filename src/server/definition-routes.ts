/**
 * Computed trait definitions: list (`read`), validate (`read`), replace one
 * (`PUT`, `admin`) and remove one (`DELETE`, `admin`). Definitions are
 * global: a change applies to every workspace, so changes need `admin`.
 * A change backfills from the log; the trait reads as backfilling until done.
 * Definitions made here are stored and survive restarts; the configuration
 * file's own names cannot be changed here (409).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../core/errors.ts';
import type { Portrait } from '../portrait/portrait.ts';
import { authorize } from './auth.ts';
import { namedByPath } from './named-body.ts';

// Loose on purpose: the library validates definitions and names every problem (PORTRAIT_CONFIG_INVALID).
const Definition = Type.Object(
  {},
  { additionalProperties: true, description: 'A computed trait definition: name, kind, filter and, by kind, value, key, window, bucket, halfLife, weights, k, exactLimit.' },
);
const NameParams = Type.Object({ name: Type.String({ minLength: 1, description: 'The trait name.' }) });

const TAGS = ['traits'];

export function definitionRoutes(app: FastifyInstance, p: Portrait): void {
  app.get(
    '/v1/traits',
    { schema: { summary: 'The trait definitions in force, with version and backfill status', tags: TAGS } },
    async (req) => {
      await authorize(p, req, 'read');
      return { traits: await p.traitDefinitions() };
    },
  );

  app.post<{ Body: Static<typeof Definition> }>(
    '/v1/traits/validate',
    { schema: { summary: 'Check a trait definition without saving it', tags: TAGS, body: Definition } },
    async (req) => {
      await authorize(p, req, 'read');
      return { valid: true, definition: p.validateTrait(req.body) };
    },
  );

  app.put<{ Params: Static<typeof NameParams>; Body: Static<typeof Definition> }>(
    '/v1/traits/:name',
    {
      schema: {
        summary: 'Create or replace one trait definition (all workspaces)',
        description: 'The body may leave the name out; when given it must match the path. 201 when created, 200 when replaced; a changed definition backfills. A name the configuration file defines answers 409 PORTRAIT_TRAIT_FROM_CONFIG.',
        tags: TAGS,
        params: NameParams,
        body: Definition,
      },
    },
    async (req, reply) => {
      await authorize(p, req, 'admin');
      const { name } = req.params;
      const { created } = await p.putTrait(namedByPath(req.body, name, Errors.traitNameMismatch));
      const row = (await p.traitDefinitions()).find((r) => r.name === name);
      return reply.status(created ? 201 : 200).send(row);
    },
  );

  app.post<{ Body: Static<typeof Definition> }>(
    '/v1/traits',
    {
      schema: {
        summary: 'Create one trait definition (all workspaces)',
        description: '201 with the new definition (status backfilling when the log holds events); 409 PORTRAIT_TRAIT_EXISTS when a trait of that name exists (replace it with PUT), PORTRAIT_TRAIT_FROM_CONFIG when the configuration file defines it.',
        tags: TAGS,
        body: Definition,
      },
    },
    async (req, reply) => {
      await authorize(p, req, 'admin');
      const name = p.validateTrait(req.body).name;
      await p.putTrait(req.body, { create: true });
      return reply.status(201).send((await p.traitDefinitions()).find((r) => r.name === name));
    },
  );

  app.delete<{ Params: Static<typeof NameParams> }>(
    '/v1/traits/:name',
    { schema: { summary: 'Remove one trait definition (all workspaces)', tags: TAGS, params: NameParams } },
    async (req, reply) => {
      await authorize(p, req, 'admin');
      const { name } = req.params;
      await p.deleteTrait(name);
      return reply.status(204).send();
    },
  );
}
