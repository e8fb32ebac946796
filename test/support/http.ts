/** Calling a built server in tests: one request with an optional Bearer key and JSON body, and the error code of an answer. */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** `call(method, url, key, payload)` on the server `app()` returns (read at call time: suites build it in `before`). */
export function caller(app: () => FastifyInstance): (method: Method, url: string, key: string | undefined, payload?: unknown) => Promise<LightMyRequestResponse> {
  return (method, url, key, payload) =>
    app().inject({
      method,
      url,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
    });
}

/** The `error.code` of an answer, if it is an error. */
export const errorCode = (r: LightMyRequestResponse): string | undefined => (r.json() as { error?: { code: string } }).error?.code;
