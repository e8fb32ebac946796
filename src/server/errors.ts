/**
 * One error handler: a PortraitError renders as its status and
 * `{ error: { code, message, problems? } }`; Fastify's own errors get a
 * Portrait code; anything else is a 500 without internals.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isPortraitError, PortraitError } from '../core/errors.ts';

const FASTIFY_CODES: Record<string, { code: string; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'PORTRAIT_HTTP_BODY_TOO_LARGE', message: 'The request body is larger than allowed. Send smaller batches.' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'PORTRAIT_HTTP_UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported content type. Send application/json.' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'PORTRAIT_EVENT_NOT_JSON', message: 'The body is empty. Send a JSON object.' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'PORTRAIT_HTTP_BAD_LENGTH', message: 'Content-Length does not match the body.' },
};

export function toPortraitError(err: FastifyError | Error): PortraitError {
  if (isPortraitError(err)) return err;
  const fe = err as FastifyError;
  const known = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) return new PortraitError(known.code, known.message, fe.statusCode ?? 400);
  if (fe.code === 'Z_DATA_ERROR' || fe.code === 'Z_BUF_ERROR') {
    return new PortraitError('PORTRAIT_HTTP_BAD_ENCODING', 'The body could not be decompressed: it is not valid gzip or deflate data.', 400);
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new PortraitError('PORTRAIT_HTTP_BAD_REQUEST', fe.message, fe.statusCode);
  }
  return new PortraitError('PORTRAIT_INTERNAL', 'Something went wrong on our side. The error was logged with this request id.', 500);
}

export function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void {
  const e = toPortraitError(err);
  if (e.status >= 500) req.log.error({ err }, 'request failed');
  if (e.status === 429 && !reply.hasHeader('retry-after')) reply.header('retry-after', '1');
  void reply.status(e.status).send({ error: { ...e.toJSON(), requestId: req.id } });
}
