/**
 * A local webhook receiver for tests: records every request (headers, raw
 * body) and answers each one as `respond` decides: a status, or 'hang'
 * (never answers; the socket is destroyed after `hangMs`).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  deliveryId: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered: a status, or 'hang'. */
  answer: number | 'hang';
  /** How many times this delivery id had arrived, including this one. */
  nth: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** 2xx answers per delivery id. */
  successes(): Map<string, number>;
  close(): Promise<void>;
}

export type Responder = (r: Omit<Received, 'answer'>) => number | 'hang';

export async function startReceiver(respond: Responder, hangMs = 2000): Promise<Receiver> {
  const received: Received[] = [];
  const seen = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const deliveryId = String(req.headers['portrait-delivery-id'] ?? '');
      const nth = (seen.get(deliveryId) ?? 0) + 1;
      seen.set(deliveryId, nth);
      const base = { path: req.url ?? '/', deliveryId, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), nth };
      const answer = respond(base);
      received.push({ ...base, answer });
      if (answer === 'hang') {
        setTimeout(() => req.socket.destroy(), hangMs).unref();
        return;
      }
      res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'fail');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    successes() {
      const m = new Map<string, number>();
      for (const r of received) if (typeof r.answer === 'number' && r.answer < 300) m.set(r.deliveryId, (m.get(r.deliveryId) ?? 0) + 1);
      return m;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
