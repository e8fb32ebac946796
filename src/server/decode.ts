/**
 * Request bodies: gzip or deflate content encodings are decompressed before
 * parsing, and JSON is accepted whatever the content type says (RudderStack's
 * SDK labels gzip JSON as application/x-www-form-urlencoded).
 */
import { createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { Errors, PortraitError } from '../core/errors.ts';

export function registerBodyDecoding(app: FastifyInstance): void {
  app.addHook('preParsing', async (req, _reply, payload) => {
    const enc = String(req.headers['content-encoding'] ?? '').toLowerCase();
    if (enc === 'gzip' || enc === 'deflate') {
      const out = Object.assign(enc === 'gzip' ? createGunzip() : createInflate(), { receivedEncodedLength: 0 });
      // Fastify checks Content-Length against the bytes received, not the decompressed ones.
      payload.on('data', (chunk: Buffer) => (out.receivedEncodedLength += chunk.length));
      // A broken stream must surface as a request error, not an unhandled one.
      payload.on('error', (e) => out.destroy(e));
      return payload.pipe(out);
    }
    if (enc !== '' && enc !== 'identity') {
      throw new PortraitError('PORTRAIT_HTTP_BAD_ENCODING', `Content encoding "${enc}" is not supported: use gzip, deflate or none.`, 415);
    }
    return payload;
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (e) {
      done(Errors.notJson((e as Error).message), undefined);
    }
  });
}
