/** Mapping the identifier types users name (user_id, email, …) to identifier keys. */
import { Errors } from '../core/errors.ts';
import { identityHash, normalizeEmail, workspaceIdentityKey } from '../ingest/index.ts';

export type IdType = 'user_id' | 'anonymous_id' | 'email' | 'profile_id' | 'group_id' | 'key' | `external:${string}`;

export type ResolvedIdentifier = { kind: 'profile'; id: string } | { kind: 'ident'; key: string };

export function resolveIdentifier(idType: string, id: string, hashKey: Buffer, workspace: string): ResolvedIdentifier {
  switch (idType) {
    case 'profile_id':
      return { kind: 'profile', id };
    case 'user_id':
      return { kind: 'ident', key: `user:${id}` };
    case 'anonymous_id':
      return { kind: 'ident', key: `anon:${id}` };
    case 'group_id':
      return { kind: 'ident', key: `group:${id}` };
    case 'key':
      return { kind: 'ident', key: id };
    case 'email': {
      const e = normalizeEmail(id);
      // An address that cannot be normalised matches no profile; hashing the raw text keeps the lookup uniform.
      return { kind: 'ident', key: `email:${identityHash(workspaceIdentityKey(hashKey, workspace), e ?? id)}` };
    }
    default:
      if (idType.startsWith('external:') && idType.length > 'external:'.length) {
        return { kind: 'ident', key: `ext:${idType.slice('external:'.length).toLowerCase()}:${id}` };
      }
      throw Errors.unknownIdType(idType);
  }
}
