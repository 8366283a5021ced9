// The web console's routes on `rearguard serve`: the page at `/`, its bundle under /console/, and its data under
// /v1/console/ (JSON, and server-sent events that push a view again whenever it changes, so pages update without
// reloads). Read-only: the console shows what `rollback status`, `freeze list`, `unfreeze status` and `guard status`
// show; actions stay with the CLI and the OIDC-authenticated decision endpoints.
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { issueLines, friendlyErrors } from '../../runbook/issues.js';
import type { ConsoleAssets } from './assets.js';
import { CONSOLE_SECURITY_HEADERS as SECURITY_HEADERS } from './headers.js';
import { OperationError } from '../../api/errors.js';
import { httpStatusOf, internalError } from '../http-errors.js';
import type { OidcVerifier } from '../oidc.js';
import { authenticatePerson } from '../serve-auth.js';
import { MAX_CALENDAR_RANGE_MS, type ConsoleFeed } from './feed.js';
import { calendarItemsIcs } from '../../runbook/calendar-ics.js';

/** How often a stream reads its view again, and sends a comment line to keep proxies from closing it. */
const STREAM_TICK_MS = 1_000;
const KEEPALIVE_MS = 15_000;
/** Streams open at once on one serve (each reads once a second), and from one client address. */
const MAX_STREAMS = 200;
const MAX_STREAMS_PER_ADDRESS = 20;
/** A stream of a run that has ended reads it again this often. */
const ENDED_TICK_MS = 15_000;

/**
 * A problem a stream reports to the page: an operation's own refusal (not found, wedged) as it says it; anything
 * else as a reference to serve's log, never its text (gRPC details, addresses).
 */
function readProblem(err: unknown): string {
  if (err instanceof OperationError && httpStatusOf(err) < 500) return err.lines.join(' ').slice(0, 300);
  return internalError(err, 'console stream');
}

const workflowId = z
  .string()
  .min(1)
  .max(400)
  .regex(/^rollback:[\w:.@/-]+$/, 'expected a rollback workflow ID such as rollback:prod:payments');
const streamQuery = z.discriminatedUnion('view', [
  z.object({ view: z.literal('now') }),
  z.object({ view: z.literal('rollback'), id: workflowId }),
  z.object({
    view: z.literal('unfreeze'),
    id: z
      .string()
      .min(1)
      .max(300)
      .regex(/^[\w:.@/-]+$/, 'expected a freeze ID such as freeze:q4-close'),
  }),
]);

const instant = (name: string) =>
  z
    .string()
    .max(40)
    .refine((v) => !Number.isNaN(Date.parse(v)), `expected an ISO date and time such as 2027-03-01T00:00:00Z`)
    .transform((v) => Date.parse(v))
    .describe(name);
const calendarQuery = z
  .object({ from: instant('from'), until: instant('until') })
  .refine((q) => q.until > q.from && q.until - q.from <= MAX_CALENDAR_RANGE_MS, {
    message: `expected until after from, at most ${MAX_CALENDAR_RANGE_MS / 86_400_000} days later`,
    path: ['until'],
  });

export interface ConsoleRouteOptions {
  assets: ConsoleAssets;
  feed: ConsoleFeed;
  /** Who people are (OIDC), when serve is configured for it: sign-in, the audit page. */
  oidc?: OidcVerifier;
  /** serve can sign people's decisions (OIDC and a delegate key): the console shows actions to signed-in people. */
  actions: boolean;
  rateLimit?: { max: number; timeWindow: number };
}

export function registerConsoleRoutes(app: FastifyInstance, { assets, feed, rateLimit, oidc, actions }: ConsoleRouteOptions): void {
  const limited = rateLimit ? { config: { rateLimit } } : {};
  const file = (body: string, type: string) => ({ body, gzip: gzipSync(body), type });
  const files = {
    '/': file(assets.html, 'text/html; charset=utf-8'),
    '/console/app.js': file(assets.js, 'text/javascript; charset=utf-8'),
    '/console/app.css': file(assets.css, 'text/css; charset=utf-8'),
  };
  for (const [path, f] of Object.entries(files))
    app.get(path, async (req, reply) => {
      void reply.headers({
        ...SECURITY_HEADERS,
        'content-type': f.type,
        'cache-control': path === '/' ? 'no-cache' : 'no-cache, must-revalidate',
        vary: 'accept-encoding',
      });
      if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(f.gzip);
      return reply.send(f.body);
    });

  // What the console may offer: sign-in (OIDC configured) and actions (also a delegate key to sign decisions with).
  app.get('/v1/console/config', limited, async (_req, reply) =>
    reply.headers(SECURITY_HEADERS).send({ signIn: Boolean(oidc), actions: Boolean(oidc) && actions }),
  );
  // Who a token names, as every endpoint for people will: the sign-in page checks a pasted token here.
  app.get('/v1/console/whoami', limited, async (req, reply) => {
    const person = await authenticatePerson(oidc, req, reply);
    if (!person) return reply;
    return reply.headers(SECURITY_HEADERS).send({ actor: person.actor, issuer: person.issuer });
  });
  app.get('/v1/console/now', limited, async (_req, reply) => reply.headers(SECURITY_HEADERS).send(await feed.now()));
  app.get('/v1/console/rollbacks/*', limited, async (req, reply) => {
    const id = workflowId.safeParse((req.params as Record<string, string>)['*'], { error: friendlyErrors });
    if (!id.success) return reply.code(400).send({ error: `rollback ID: ${issueLines(id.error.issues).join('; ')}` });
    return reply.headers(SECURITY_HEADERS).send(await feed.rollback(id.data));
  });

  for (const ics of [false, true])
    app.get(ics ? '/v1/console/calendar.ics' : '/v1/console/calendar', limited, async (req, reply) => {
      const q = calendarQuery.safeParse(req.query, { error: friendlyErrors });
      if (!q.success) return reply.code(400).send({ error: 'bad request', problems: issueLines(q.error.issues) });
      const view = await feed.calendar(q.data.from, q.data.until);
      if (!ics) return reply.headers(SECURITY_HEADERS).send(view);
      return reply
        .headers({ ...SECURITY_HEADERS, 'content-type': 'text/calendar; charset=utf-8', 'content-disposition': 'attachment; filename="rearguard-freezes.ics"' })
        .send(calendarItemsIcs(view.items));
    });

  // Open streams, each with how to end it: serve's shutdown ends them (a hijacked response would keep app.close()
  // waiting for the client), and no one address may hold more than MAX_STREAMS_PER_ADDRESS of them.
  const streams = new Map<() => void, string>();
  app.addHook('preClose', async () => {
    for (const end of [...streams.keys()]) end();
  });
  app.get('/v1/console/stream', limited, async (req: FastifyRequest, reply: FastifyReply) => {
    const q = streamQuery.safeParse(req.query, { error: friendlyErrors });
    if (!q.success) return reply.code(400).send({ error: 'bad request', problems: issueLines(q.error.issues) });
    const mine = [...streams.values()].filter((ip) => ip === req.ip).length;
    if (streams.size >= MAX_STREAMS || mine >= MAX_STREAMS_PER_ADDRESS)
      return reply
        .code(503)
        .header('retry-after', '10')
        .send({ error: `too many console streams open (${mine >= MAX_STREAMS_PER_ADDRESS ? `${MAX_STREAMS_PER_ADDRESS} from one address` : MAX_STREAMS})` });
    const v = q.data;
    const read = v.view === 'now' ? () => feed.now() : v.view === 'rollback' ? () => feed.rollback(v.id) : () => feed.unfreeze(v.id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // nginx buffers responses unless told not to: events would arrive in bursts.
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    // Events carry no data but the view: the browser keeps the last one. `: ...` lines are comments (keep-alive).
    let last = '';
    let lastWrite = Date.now();
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const end = () => {
      if (closed) return;
      closed = true;
      streams.delete(end);
      clearTimeout(timer);
      res.end();
    };
    streams.set(end, req.ip);
    req.raw.once('close', end);
    res.once('close', end);
    const tick = async () => {
      if (closed) return;
      // A run that has ended changes no more: it is read again rarely (a reset or a new run of the same ID).
      let ended = false;
      try {
        const view = await read();
        ended = 'run' in view && view.run !== 'running';
        const text = JSON.stringify(view);
        // `at` changes every read: compare without it.
        const key = text.replace(/^\{"at":"[^"]*",/, '{');
        if (key !== last && !closed) {
          last = key;
          res.write(`event: view\ndata: ${text}\n\n`);
          lastWrite = Date.now();
        }
      } catch (err) {
        // What went wrong stays in serve's log; the page gets a reference (it may be anyone's browser).
        if (!closed) res.write(`event: problem\ndata: ${JSON.stringify({ error: readProblem(err) })}\n\n`);
        lastWrite = Date.now();
      }
      if (!closed && Date.now() - lastWrite >= KEEPALIVE_MS) {
        res.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
      if (!closed) timer = setTimeout(() => void tick(), ended ? ENDED_TICK_MS : STREAM_TICK_MS);
    };
    void tick();
  });
}
