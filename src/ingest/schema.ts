/**
 * TypeBox schemas for the six Segment-spec messages (track, identify, alias,
 * group, page, screen) and the `/v1/batch` envelope. The static message types
 * derive from these schemas, so validation and types cannot drift.
 *
 * Each field's `description` is phrased as what the field must be ("a
 * non-empty string …"): validation problems reuse it as their message.
 * Unknown top-level fields are allowed (Segment forwards them) and ignored.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** Longest accepted `event` name or identifier, in characters. */
export const MAX_ID_LENGTH = 1024;

/**
 * Identifiers may be strings or numbers (numbers are converted to strings, as
 * Segment does). `null` is accepted as "absent": analytics.js sends
 * `"userId": null` for anonymous visitors.
 */
const OptionalId = Type.Unsafe<string | number | null>({
  type: ['string', 'number', 'null'],
  maxLength: MAX_ID_LENGTH,
  description: `a string of at most ${MAX_ID_LENGTH} characters or a number`,
});

/** An identifier the message type cannot do without (alias previousId/userId, group groupId). */
const RequiredId = Type.Unsafe<string | number>({
  type: ['string', 'number'],
  minLength: 1,
  maxLength: MAX_ID_LENGTH,
  description: `a non-empty string of at most ${MAX_ID_LENGTH} characters or a number`,
});

/** What a time field accepts, in words; also the message of a time problem. */
export const TIME_DESCRIPTION = 'an ISO 8601 time (e.g. "2024-05-01T12:00:00.000Z") or epoch milliseconds (a number)';

/** A time: an ISO 8601 string or epoch milliseconds. The string form is checked by `time.ts`. */
const Time = Type.Unsafe<string | number | null>({ type: ['string', 'number', 'null'], description: TIME_DESCRIPTION });

/**
 * A free-form object. Only its type is checked: walking every key (as a
 * `patternProperties` schema would) costs time on every event for nothing.
 */
const AnyObject = (what: string) =>
  Type.Unsafe<Record<string, unknown>>({ type: 'object', description: `an object (${what})` });

/** A string, or `null` meaning absent. */
const NullableString = (description: string, maxLength?: number) =>
  Type.Unsafe<string | null>({ type: ['string', 'null'], ...(maxLength === undefined ? {} : { maxLength }), description });

export const ExternalId = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, description: `a non-empty string of at most ${MAX_ID_LENGTH} characters` }),
    type: Type.String({ minLength: 1, description: 'a non-empty string (the kind of identifier, e.g. "email")' }),
    collection: Type.Optional(Type.String({ description: 'a string' })),
    encoding: Type.Optional(Type.String({ description: 'a string' })),
  },
  { description: 'an object with string fields id and type' },
);

/** A group id a message is attributed to (`context.groupId`, a value of `context.groups`). */
const GroupRef = (description: string) => Type.Unsafe<string | number>({ type: ['string', 'number'], minLength: 1, maxLength: MAX_ID_LENGTH, description });

export const Context = Type.Object(
  {
    traits: Type.Optional(AnyObject('the user traits known when the event happened')),
    externalIds: Type.Optional(Type.Array(ExternalId, { description: 'an array of {id, type} objects' })),
    groupId: Type.Optional(GroupRef(`the account the message is attributed to: a non-empty string of at most ${MAX_ID_LENGTH} characters or a number`)),
    groups: Type.Optional(
      Type.Unsafe<Record<string, string | number>>({
        type: 'object',
        additionalProperties: GroupRef('a group id: a non-empty string or a number'),
        description: `an object of group types to group ids (non-empty strings of at most ${MAX_ID_LENGTH} characters or numbers)`,
      }),
    ),
  },
  { description: 'an object (the context of the message)' },
);

/** Fields every message type may carry. */
const common = {
  messageId: Type.Optional(NullableString(`a string of at most ${MAX_ID_LENGTH} characters`, MAX_ID_LENGTH)),
  userId: Type.Optional(OptionalId),
  anonymousId: Type.Optional(OptionalId),
  timestamp: Type.Optional(Time),
  originalTimestamp: Type.Optional(Time),
  sentAt: Type.Optional(Time),
  // A client-sent receivedAt is ignored (Portrait stamps arrival), so it is not described here.
  context: Type.Optional(Context),
  integrations: Type.Optional(AnyObject('which destinations receive the message')),
  properties: Type.Optional(AnyObject('the properties of the event')),
  traits: Type.Optional(AnyObject('the traits of the user or group')),
};

const optionalName = Type.Optional(NullableString('a string (the page or screen name)'));

export const TrackMessage = Type.Object({
  ...common,
  type: Type.Literal('track'),
  event: Type.String({
    minLength: 1,
    maxLength: MAX_ID_LENGTH,
    description: `a non-empty string of at most ${MAX_ID_LENGTH} characters (the event name)`,
  }),
});

export const IdentifyMessage = Type.Object({ ...common, type: Type.Literal('identify') });

export const AliasMessage = Type.Object({
  ...common,
  type: Type.Literal('alias'),
  previousId: RequiredId,
  userId: RequiredId,
});

export const GroupMessage = Type.Object({ ...common, type: Type.Literal('group'), groupId: RequiredId });

export const PageMessage = Type.Object({ ...common, type: Type.Literal('page'), name: optionalName });

export const ScreenMessage = Type.Object({ ...common, type: Type.Literal('screen'), name: optionalName });

/**
 * The common fields alone: used to keep listing every problem of a message
 * whose `type` is missing or unknown.
 */
export const AnyMessage = Type.Object({ ...common, type: Type.Optional(Type.Unknown()) });

export type TrackMessage = Static<typeof TrackMessage>;
export type IdentifyMessage = Static<typeof IdentifyMessage>;
export type AliasMessage = Static<typeof AliasMessage>;
export type GroupMessage = Static<typeof GroupMessage>;
export type PageMessage = Static<typeof PageMessage>;
export type ScreenMessage = Static<typeof ScreenMessage>;
export type SegmentMessage = TrackMessage | IdentifyMessage | AliasMessage | GroupMessage | PageMessage | ScreenMessage;

/** Every message schema by its `type`. */
export const MessageSchemas = {
  track: TrackMessage,
  identify: IdentifyMessage,
  alias: AliasMessage,
  group: GroupMessage,
  page: PageMessage,
  screen: ScreenMessage,
} as const satisfies Record<SegmentMessage['type'], TSchema>;

/** The body of `POST /v1/batch`: messages plus a shared `sentAt` and `context`. */
export const BatchEnvelope = Type.Object({
  batch: Type.Array(Type.Unknown(), { description: 'an array of messages' }),
  sentAt: Type.Optional(Time),
  context: Type.Optional(Context),
});
export type BatchEnvelope = Static<typeof BatchEnvelope>;
