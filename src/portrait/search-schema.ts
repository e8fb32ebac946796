/**
 * The shape of a profile search, as TypeBox schemas: the library validates
 * queries with them and the HTTP routes publish them in the OpenAPI document.
 */
import { Type, type Static } from '@sinclair/typebox';

export const SEARCH_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'exists', 'contains'] as const;
export type SearchOp = (typeof SEARCH_OPS)[number];

export const SEARCH_MAX_LIMIT = 1000;
export const SEARCH_DEFAULT_LIMIT = 50;
/** Offsets cost memory (the skipped profiles are held while scanning); deeper pages use the cursor. */
export const SEARCH_MAX_OFFSET = 10_000;
export const SEARCH_MAX_CONDITIONS = 50;

const FIELD_DOC =
  'attributes.<name>, traits.<name> (a computed trait as the profile shows it, evaluated now), segments.<name> (membership: true or false), consents.<purpose> (granted now: true or false), scores.<name> (a declared score), or id, eventCount, firstSeen, lastSeen.';

export const SearchCondition = Type.Object(
  {
    field: Type.String({ minLength: 1, description: FIELD_DOC }),
    // A string enum rather than a union of literals: validation then names the allowed values in one message.
    op: Type.Unsafe<SearchOp>({
      type: 'string',
      enum: [...SEARCH_OPS],
      description: 'eq, ne (no value counts as different), gt, gte, lt, lte (numbers with numbers, strings with strings), in (a list), exists (true: has a non-null value), contains (an array holding the value, or a string holding the substring).',
    }),
    value: Type.Optional(Type.Unknown({ description: 'What to compare with; a list for in, a boolean (default true) for exists.' })),
  },
  { additionalProperties: false },
);

export const SearchSort = Type.Object(
  {
    field: Type.String({ minLength: 1, description: FIELD_DOC }),
    order: Type.Optional(Type.Unsafe<'asc' | 'desc'>({ type: 'string', enum: ['asc', 'desc'], description: 'Default asc. Profiles without a value come last either way; ties go by profile id.' })),
  },
  { additionalProperties: false },
);

export const SearchRequest = Type.Object(
  {
    where: Type.Optional(Type.Array(SearchCondition, { maxItems: SEARCH_MAX_CONDITIONS, description: 'Conditions, all of which must hold.' })),
    sort: Type.Optional(SearchSort),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: SEARCH_MAX_LIMIT, description: `Page size (default ${SEARCH_DEFAULT_LIMIT}, at most ${SEARCH_MAX_LIMIT}).` })),
    cursor: Type.Optional(Type.String({ minLength: 1, description: 'The `next` value of the previous page of the same query.' })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: SEARCH_MAX_OFFSET, description: `Profiles to skip (at most ${SEARCH_MAX_OFFSET}); not with cursor.` })),
  },
  { additionalProperties: false },
);

export type SearchCondition = Static<typeof SearchCondition>;
export type SearchRequest = Static<typeof SearchRequest>;
