/**
 * Webhook destination definitions: what a destination is, and the checks a
 * definition from the API or the config file must pass.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { Errors, type Problem } from '../core/errors.ts';
import { unknownTagMessage } from '../segments/index.ts';

/** The notification kinds the engine writes to the outbox. */
export const KINDS = ['segment.entered', 'segment.exited', 'tag.entered', 'tag.exited', 'profile.updated'] as const;
export type Kind = (typeof KINDS)[number];

// An enum rather than a union of literals: one clear error per wrong value instead of one per literal.
const KindSchema = Type.Unsafe<Kind>({ type: 'string', enum: [...KINDS], description: 'A notification kind.' });
const IdSchema = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Destination id: letters, digits, "_" and "-", at most 64.' });

/** The fields a user sets; the id is chosen by the user or generated. */
export const DestinationInputSchema = Type.Object(
  {
    id: Type.Optional(IdSchema),
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'http(s) URL that receives a POST per notification.' }),
    secret: Type.Optional(Type.String({ minLength: 16, maxLength: 256, description: 'HMAC-SHA256 key for the Portrait-Signature header; generated when absent.' })),
    kinds: Type.Array(KindSchema, { minItems: 1, uniqueItems: true, description: 'Subscribed kinds.' }),
    segments: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, uniqueItems: true, description: 'Only these segments: their segment events, and profile updates of their members; tag events are not filtered by it (see tags).' })),
    tags: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        uniqueItems: true,
        description: 'Only tag events of these tags or tags below them ("interest/sports" takes "interest/sports/football"); each a defined tag or a branch above one. Segment events and profile updates are not filtered by it.',
      }),
    ),
    enabled: Type.Optional(Type.Boolean({ description: 'false pauses the destination; default true.' })),
    purpose: Type.Optional(Type.String({ minLength: 1, description: 'A consent purpose (privacy.purposes): only notifications about profiles that granted it are sent.' })),
  },
  { additionalProperties: false },
);
export type DestinationInput = Static<typeof DestinationInputSchema>;

/** A partial update (PATCH). */
export const DestinationPatchSchema = Type.Partial(Type.Omit(DestinationInputSchema, ['id']), { additionalProperties: false });
export type DestinationPatch = Static<typeof DestinationPatchSchema>;

/** A destination in the config file: the id and the secret are required there (a generated secret would change each start). */
export const ConfigDestinationSchema = Type.Object(
  {
    id: IdSchema,
    workspace: Type.Optional(Type.String({ minLength: 1, description: 'Workspace whose notifications it receives (default: defaultWorkspace).' })),
    url: DestinationInputSchema.properties.url,
    secret: Type.String({ minLength: 16, maxLength: 256 }),
    kinds: DestinationInputSchema.properties.kinds,
    segments: DestinationInputSchema.properties.segments,
    tags: DestinationInputSchema.properties.tags,
    enabled: DestinationInputSchema.properties.enabled,
    purpose: DestinationInputSchema.properties.purpose,
  },
  { additionalProperties: false },
);
export type ConfigDestination = Static<typeof ConfigDestinationSchema>;

export interface Destination {
  id: string;
  workspace: string;
  url: string;
  secret: string;
  kinds: Kind[];
  /** null: every segment. */
  segments: string[] | null;
  /** null: every tag; else tag events of these tags and the tags below them. */
  tags: string[] | null;
  enabled: boolean;
  /** A consent purpose: notifications about profiles without it granted are not sent. */
  purpose?: string;
  source: 'api' | 'config';
  createdAt: number;
  updatedAt: number;
}

/** A destination as shown to users: the secret is only shown when created. */
export type DestinationView = Omit<Destination, 'secret' | 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string };

export function viewOf(d: Destination): DestinationView {
  const { secret: _secret, ...rest } = d;
  return { ...rest, createdAt: new Date(d.createdAt).toISOString(), updatedAt: new Date(d.updatedAt).toISOString() };
}

const ajv = new Ajv({ allErrors: true, strict: false });
const checks = {
  input: ajv.compile(DestinationInputSchema),
  patch: ajv.compile(DestinationPatchSchema),
  config: ajv.compile(ConfigDestinationSchema),
};

function urlProblems(url: unknown): Problem[] {
  if (typeof url !== 'string') return [];
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return [{ path: '/url', message: 'is not a valid URL (expected e.g. https://example.com/hooks/portrait)' }];
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return [{ path: '/url', message: `uses ${u.protocol.replace(':', '')}; use http or https` }];
  return [];
}

/** What a definition may name: the configured consent purposes and the defined tags (absent: not checked). */
export interface KnownNames {
  purposes?: readonly string[];
  tags?: readonly string[];
}

/** A tag filter names a defined tag or a branch above defined tags (`interest` when `interest/sports` is defined), as a tag test does. */
function tagProblems(tags: unknown, defined: readonly string[] | undefined): Problem[] {
  if (defined === undefined || !Array.isArray(tags)) return [];
  const problems: Problem[] = [];
  tags.forEach((t, i) => {
    const message = typeof t === 'string' && t.length > 0 ? unknownTagMessage(t, defined) : undefined;
    if (message !== undefined) problems.push({ path: `/tags/${i}`, message });
  });
  return problems;
}

/** Validates a destination body of kind `which`; throws PORTRAIT_DESTINATION_INVALID listing every problem. */
export function validateDestination(raw: unknown, which: 'input', known?: KnownNames): DestinationInput;
export function validateDestination(raw: unknown, which: 'patch', known?: KnownNames): DestinationPatch;
export function validateDestination(raw: unknown, which: 'config', known?: KnownNames): ConfigDestination;
export function validateDestination(raw: unknown, which: keyof typeof checks, known: KnownNames = {}): DestinationInput | DestinationPatch | ConfigDestination {
  const { purposes } = known;
  const check = checks[which];
  const problems: Problem[] = [];
  if (!check(raw)) {
    for (const e of check.errors ?? []) {
      const extra = e.keyword === 'additionalProperties' ? `/${String((e.params as { additionalProperty?: string }).additionalProperty)}` : '';
      problems.push({ path: e.instancePath + extra, message: e.keyword === 'additionalProperties' ? 'is not a known field' : (e.message ?? 'is invalid') });
    }
  }
  problems.push(...urlProblems((raw as { url?: unknown } | null)?.url));
  const purpose = (raw as { purpose?: unknown } | null)?.purpose;
  if (purposes !== undefined && typeof purpose === 'string' && !purposes.includes(purpose)) {
    problems.push({ path: '/purpose', message: `unknown purpose "${purpose}" (configured: ${purposes.join(', ')}; add it to privacy.purposes)` });
  }
  problems.push(...tagProblems((raw as { tags?: unknown } | null)?.tags, known.tags));
  if (problems.length > 0) throw Errors.destinationInvalid(problems);
  return raw as DestinationInput;
}
