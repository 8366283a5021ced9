// A local HTTP receiver standing in for the systems a webhook step calls: it records every request
// and, like a well-behaved API, applies each Idempotency-Key once.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  method: string;
  key?: string;
  body: string;
  /** The request's headers (lower-case names). */
  headers: IncomingHttpHeaders;
  at: number;
  /** When the receiver answered (undefined while held or if the caller went away). */
  answeredAt?: number;
  duplicate: boolean;
}

export interface Receiver {
  url: string;
  requests: Received[];
  /** Requests to this path are held (no answer) until `release` is called. */
  hold(path: string): void;
  release(path: string): void;
  /** Answer this path with a status (default 200). */
  respond(path: string, status: number): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const requests: Received[] = [];
  const held = new Map<string, ServerResponse[]>();
  const holding = new Set<string>();
  const statuses = new Map<string, number>();
  const applied = new Set<string>();
  const answer = (rec: Received, res: ServerResponse) => {
    if (res.destroyed) return;
    rec.answeredAt = Date.now();
    res.writeHead(statuses.get(rec.path) ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, duplicate: rec.duplicate }));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const key = req.headers['idempotency-key'] as string | undefined;
      const rec: Received = {
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        key,
        body,
        headers: req.headers,
        at: Date.now(),
        duplicate: key !== undefined && applied.has(key),
      };
      requests.push(rec);
      // Applied on receipt, as a real API would before answering; a retry with the same key is a duplicate.
      if (key) applied.add(key);
      if (holding.has(rec.path)) {
        held.set(rec.path, [...(held.get(rec.path) ?? []), res]);
        (res as ServerResponse & { rec?: Received }).rec = rec;
        return;
      }
      answer(rec, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    hold: (path) => holding.add(path),
    release: (path) => {
      holding.delete(path);
      for (const res of held.get(path) ?? []) {
        answer((res as ServerResponse & { rec?: Received }).rec!, res);
      }
      held.delete(path);
    },
    respond: (path, status) => statuses.set(path, status),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
