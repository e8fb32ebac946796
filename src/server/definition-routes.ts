/**
 * Computed trait definitions: list (`read`), validate (`read`), replace one
 * (`PUT`, `admin`) and remove one (`DELETE`, `admin`). Definitions are
 * global: a change applies to every workspace, so changes need `admin`.
 * A change backfills from the log; the trait reads as backfilling until done.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Errors, PortraitError } from '../core/errors.ts';
import type { Portrait } from '../portrait/portrait.ts';
import { authorize } from './auth.ts';

// Loose on purpose: the library validates definitions and names every problem (PORTRAIT_CONFIG_INVALID).
const Definition = Type.Object(
  {},
  { additionalProperties: true, description: 'A computed trait definition: name, kind, filter and, by kind, value, key, window, bucket, halfLife, weights, k, exactLimit.' },
);
const NameParams = Type.Object({ name: Type.String({ minLength: 1, description: 'The trait name.' }) });

const TAGS = ['traits'];

/** Read-modify-write of the definition set, one change at a time per instance. */
const queues = new WeakMap<Portrait, Promise<unknown>>();
function serialised<T>(p: Portrait, f: () => Promise<T>): Promise<T> {
  const run = (queues.get(p) ?? Promise.resolve()).then(f, f);
  queues.set(p, run.catch(() => undefined));
  return run;
}

async function currentDefinitions(p: Portrait): Promise<Array<{ name: string; definition: unknown }>> {
  return (await p.traitDefinitions()).map((r) => ({ name: r.name, definition: r.definition }));
}

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
        description: 'The body\'s name must match the path. 201 when created, 200 when replaced; a changed definition backfills.',
        tags: TAGS,
        params: NameParams,
        body: Definition,
      },
    },
    async (req, reply) => {
      await authorize(p, req, 'admin');
      const { name } = req.params;
      const def = p.validateTrait(req.body);
      if (def.name !== name) {
        throw new PortraitError('PORTRAIT_TRAIT_NAME_MISMATCH', `The definition is named "${def.name}" but the path names "${name}". Use the same name in both.`, 400);
      }
      const created = await serialised(p, async () => {
        const current = await currentDefinitions(p);
        const exists = current.some((d) => d.name === name);
        const list = exists ? current.map((d) => (d.name === name ? req.body : d.definition)) : [...current.map((d) => d.definition), req.body];
        await p.setTraits(list);
        return !exists;
      });
      const row = (await p.traitDefinitions()).find((r) => r.name === name);
      return reply.status(created ? 201 : 200).send(row);
    },
  );

  app.delete<{ Params: Static<typeof NameParams> }>(
    '/v1/traits/:name',
    { schema: { summary: 'Remove one trait definition (all workspaces)', tags: TAGS, params: NameParams } },
    async (req, reply) => {
      await authorize(p, req, 'admin');
      const { name } = req.params;
      await serialised(p, async () => {
        const current = await currentDefinitions(p);
        if (!current.some((d) => d.name === name)) throw Errors.unknownTrait(name);
        await p.setTraits(current.filter((d) => d.name !== name).map((d) => d.definition));
      });
      return reply.status(204).send();
    },
  );
}
