// The web console's "Now" page with 50 running rollbacks: its first render within 300 ms of the server answering.
// A dev server, a worker process, 50 rollbacks that stay running (each waits for an approval that never comes, one
// service each in one environment), `rearguard serve` as a process, and Debian's Chromium headless
// (test/helpers/browser.ts launchBrowser). Each page load is a fresh browser context; an init script (run through the
// DevTools protocol, so the console's CSP does not apply to it) wraps EventSource to note when the stream was opened
// and when its first `view` event arrived, and a MutationObserver notes when the 50th `li.rollback-card` exists. The
// figures: first view event -> 50 cards (goal <= 300 ms), navigation start -> 50 cards, stream opened -> first view
// (the server's answer: serve lists the running rollbacks and Queries each one's status), and the bytes the page
// downloads (document, app.js, app.css, compressed, from Resource Timing). The peer, measured in the same run and
// alternated with the page loads: `rearguard rollback list --json` (what people would run instead), process start to
// exit. The loads are spaced so that serve's shared overview and status cache (client/console/feed.ts: 1 s and 5 s)
// have expired: every load is a cold read. Knobs: BENCH_CONSOLE_ROLLBACKS (50), BENCH_CONSOLE_LOADS (10).
import { randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { listRollbacks, triggerRollback } from '../../../api/rollbacks.js';
import { validateRunbook } from '../../../runbook/load.js';
import type { Runbook } from '../../../runbook/schema.js';
import { CHROMIUM, launchBrowser } from '../../../test/helpers/browser.js';
import {
  ensureBuild,
  envInt,
  mapLimit,
  num,
  prebuiltBundle,
  rearguardCommand,
  rearguardEnv,
  runTimed,
  sleep,
  spawnWorker,
  spread,
  startDevServer,
  startServe,
  stats,
} from '../lib.js';
import type { Figure, Scenario } from '../types.js';

const ENV = 'bench';
/** serve's status cache (client/console/feed.ts STATUS_TTL_MS, 5 s) and then some: each load reads cold. */
const COLD_GAP_MS = 6_000;
const LOAD_TIMEOUT_MS = 60_000;

/** A rollback that stays running: it waits an hour for an approval nobody gives; its steps never run. */
function approvalRunbook(service: string): Runbook {
  const rb = validateRunbook({
    apiVersion: 'rearguard/v1',
    kind: 'Runbook',
    metadata: { name: service },
    spec: {
      service,
      environment: ENV,
      sla: '2h',
      approval: { required: true, approvers: ['alice'], timeout: '1h' },
      steps: [{ name: 'undo', type: 'webhook', url: `http://127.0.0.1:9/${service}/undo` }],
      verify: [{ type: 'http', url: 'http://127.0.0.1:9/healthz' }],
    },
  });
  if (!rb.ok) throw new Error(rb.problems.join('\n'));
  return rb.value;
}

/**
 * Installed in every page before its own scripts (page.addInitScript: through the DevTools protocol, not a <script>
 * tag, so the console's CSP does not refuse it). Times are performance.now(): ms since the navigation started. The
 * listener on `view` is added in the constructor, before the page's own: the clock starts as the event is dispatched,
 * before the page parses the view. `frame`: the animation frame after the 50th card, for the note.
 */
const initScript = (cards: number) => `(() => {
  const N = ${cards};
  const m = { streamStart: null, open: null, firstView: null, firstViewData: '', views: 0, viewsAtCards: null, cards: null, frame: null, problems: [] };
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  Object.defineProperty(window, '__bench', { value: { m, done } });
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(url, init) {
      const t = performance.now();
      super(url, init);
      if (!String(url).includes('v1/console/stream') || m.streamStart !== null) return;
      m.streamStart = t;
      this.addEventListener('open', () => { if (m.open === null) m.open = performance.now(); });
      this.addEventListener('view', (e) => {
        m.views++;
        if (m.firstView === null) { m.firstView = performance.now(); m.firstViewData = e.data; }
      });
      this.addEventListener('problem', (e) => m.problems.push(e.data));
    }
  };
  const cardsNow = document.getElementsByClassName('rollback-card');
  const observer = new MutationObserver(() => {
    if (m.cards !== null || cardsNow.length < N) return;
    m.cards = performance.now();
    m.viewsAtCards = m.views;
    observer.disconnect();
    requestAnimationFrame(() => { m.frame = performance.now(); finish(); });
    setTimeout(finish, 1000);
  });
  observer.observe(document, { childList: true, subtree: true });
})();`;

interface Marks {
  streamStart: number | null;
  open: number | null;
  firstView: number | null;
  firstViewData: string;
  views: number;
  viewsAtCards: number | null;
  cards: number | null;
  frame: number | null;
  problems: string[];
}

interface Sizes {
  transfer: number;
  encoded: number;
  decoded: number;
  files: string[];
}

interface Load {
  /** first view event -> 50 cards */
  render: number;
  /** navigation start -> 50 cards */
  total: number;
  /** stream opened (EventSource constructed) -> first view event */
  server: number;
  /** the animation frame after the 50th card, after the first view event */
  frame: number;
  /** navigation start -> stream opened (the page and its bundle loaded and run) */
  boot: number;
  sizes: Sizes;
  /** rollbacks in the first view, its size in characters, views before the 50th card */
  firstViewRollbacks: number;
  firstViewChars: number;
  viewsAtCards: number;
  cardIds: string[];
}

const SIZES = `(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const files = performance.getEntriesByType('resource').filter((e) => /\\/console\\/app\\.(js|css)$/.test(new URL(e.name).pathname));
  const all = [nav, ...files];
  return {
    transfer: all.reduce((n, e) => n + e.transferSize, 0),
    encoded: all.reduce((n, e) => n + e.encodedBodySize, 0),
    decoded: all.reduce((n, e) => n + e.decodedBodySize, 0),
    files: all.map((e) => new URL(e.name).pathname + ' ' + e.transferSize),
  };
})()`;

/** One page load in a fresh browser context: what the init script noted, and the page's downloads. */
async function loadNow(browser: Browser, url: string, cards: number): Promise<Load> {
  let context: BrowserContext | undefined;
  try {
    context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    await context.addInitScript(initScript(cards));
    const page: Page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
    await page.goto(url, { waitUntil: 'commit' });
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      page.evaluate('window.__bench.done').then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), LOAD_TIMEOUT_MS))),
    ]).finally(() => clearTimeout(timer));
    const m = (await page.evaluate('window.__bench.m')) as Marks;
    if (!finished || m.cards === null || m.firstView === null || m.streamStart === null) {
      const text = ((await page.evaluate('document.body.innerText').catch(() => '')) as string).slice(0, 500);
      throw new Error(
        `the Now page did not show ${cards} rollback cards within ${LOAD_TIMEOUT_MS / 1000} s: ${JSON.stringify({ ...m, firstViewData: `${m.firstViewData.length} characters` })}; errors: ${errors.join('; ') || 'none'}; page: ${text}`,
      );
    }
    if (errors.length) throw new Error(`the Now page reported errors: ${errors.join('; ')}`);
    const sizes = (await page.evaluate(SIZES)) as Sizes;
    const cardIds = (await page.evaluate(`[...document.querySelectorAll('li.rollback-card')].map((li) => li.getAttribute('data-workflow'))`)) as string[];
    const first = JSON.parse(m.firstViewData) as { rollbacks?: unknown[] };
    return {
      render: m.cards - m.firstView,
      total: m.cards,
      server: m.firstView - m.streamStart,
      frame: (m.frame ?? NaN) - m.firstView,
      boot: m.streamStart,
      sizes,
      firstViewRollbacks: first.rollbacks?.length ?? 0,
      firstViewChars: m.firstViewData.length,
      viewsAtCards: m.viewsAtCards ?? NaN,
      cardIds,
    };
  } finally {
    await context?.close().catch(() => undefined);
  }
}

const p95 = (xs: number[]) => stats(xs).p95;
const medianOf = (xs: number[]) => stats(xs).median;

export const consoleNow: Scenario = {
  name: 'console',
  description: 'the web console\'s "Now" page in headless Chromium with 50 running rollbacks: first view event -> 50 cards rendered',
  async run(ctx) {
    const count = envInt('BENCH_CONSOLE_ROLLBACKS', 50);
    const loads = envInt('BENCH_CONSOLE_LOADS', 10);
    if (count < 1 || loads < 1) throw new Error('BENCH_CONSOLE_ROLLBACKS and BENCH_CONSOLE_LOADS must be at least 1');
    const mode = await ensureBuild(ctx);
    const bundle = await prebuiltBundle(ctx);
    const env = await startDevServer(ctx);
    // Stopped in reverse order of start, whatever fails.
    const stops: (() => Promise<unknown>)[] = [() => env.teardown()];
    try {
      const taskQueue = `bench-console-${randomUUID()}`;
      const e = rearguardEnv(env, ctx.workDir, taskQueue, { REARGUARD_WORKFLOW_BUNDLE: bundle.file });
      const worker = spawnWorker(e);
      stops.unshift(() => worker.stop());
      await worker.ready;

      const t0 = performance.now();
      const prefix = `console-${randomUUID().slice(0, 4)}`;
      const services = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
      await mapLimit(services, 8, (service) =>
        triggerRollback(env.client, taskQueue, approvalRunbook(service), {
          source: 'manual',
          actor: 'bench',
          reason: 'bench: console',
          requestId: randomUUID(),
        }),
      );
      // Running and waiting for the approval, as the visibility listing (what serve and the CLI read) has them.
      const ids = new Set(services.map((s) => `rollback:${ENV}:${s}`));
      const deadline = Date.now() + 120_000;
      for (;;) {
        const rows = (await listRollbacks(env.client, { limit: count + 100 })).filter((r) => ids.has(r.workflowId));
        const waiting = rows.filter((r) => (r as { phase?: string }).phase === 'awaiting-approval').length;
        if (waiting === count) break;
        if (Date.now() > deadline) throw new Error(`after 120 s, ${rows.length} of ${count} rollbacks listed as running, ${waiting} awaiting approval`);
        await sleep(250);
      }
      const setup = (performance.now() - t0) / 1000;
      ctx.log(`${count} rollbacks running, awaiting approval, in ${num(setup)} s`);

      const serve = await startServe(e);
      stops.unshift(() => serve.stop());
      const browser = await launchBrowser();
      stops.unshift(() => browser.close());
      const url = `${serve.url}/`;

      const cli = rearguardCommand(['rollback', 'list', '--json'], e);
      const listOnce = async (): Promise<number> => {
        const r = await runTimed(cli.cmd, cli.args, cli.env);
        if (r.code !== 0) throw new Error(`rearguard rollback list --json exited ${r.code}:\n${r.stdout}${r.stderr}`);
        const rows = (JSON.parse(r.stdout) as { workflowId: string }[]).filter((row) => ids.has(row.workflowId));
        if (rows.length !== count) throw new Error(`rearguard rollback list --json listed ${rows.length} of the ${count} rollbacks`);
        return r.ms;
      };

      // Warm-up, not counted: Chromium's first context, serve's first reads; the page must show exactly our rollbacks.
      const warm = await loadNow(browser, url, count);
      const unexpected = warm.cardIds.filter((id) => !ids.has(id));
      if (warm.cardIds.length !== count || unexpected.length)
        throw new Error(
          `the Now page shows ${warm.cardIds.length} rollback cards (expected ${count})${unexpected.length ? `, not ours: ${unexpected.join(', ')}` : ''}`,
        );
      await listOnce();
      ctx.log(`warm-up: ${count} cards ${num(warm.render)} ms after the first view (${num(warm.total)} ms after navigation start)`);

      // Page load and CLI alternated, so both see the same machine; each load after serve's caches expired.
      const samples: Load[] = [];
      const listMs: number[] = [];
      let closedAt = performance.now();
      for (let i = 0; i < loads; i++) {
        const wait = COLD_GAP_MS - (performance.now() - closedAt);
        if (wait > 0) await sleep(wait);
        const l = await loadNow(browser, url, count);
        closedAt = performance.now();
        samples.push(l);
        listMs.push(await listOnce());
        ctx.log(
          `load ${i + 1}/${loads}: first view -> ${count} cards ${num(l.render)} ms, navigation -> cards ${num(l.total)} ms, stream -> first view ${num(l.server)} ms; rollback list --json ${num(listMs.at(-1)!)} ms`,
        );
      }

      const render = samples.map((s) => s.render);
      const total = samples.map((s) => s.total);
      const server = samples.map((s) => s.server);
      const frame = samples.map((s) => s.frame);
      const boot = samples.map((s) => s.boot);
      const bytes = samples.map((s) => s.sizes.transfer);
      const listMedian = medianOf(listMs);
      const firstViews = [...new Set(samples.map((s) => s.firstViewRollbacks))].join('/');
      const viewsAtCards = Math.max(...samples.map((s) => s.viewsAtCards));
      const how = `${loads} loads after a warm-up, each in a fresh browser context, ${num(COLD_GAP_MS / 1000)} s apart (serve's caches cold); ${count} running rollbacks awaiting approval; Chromium ${CHROMIUM} headless; serve ${mode}`;
      const renderNote = `${spread(render)}; first view held ${firstViews} rollbacks (${num(medianOf(samples.map((s) => s.firstViewChars)) / 1024)} KiB of JSON), ${viewsAtCards === 1 ? 'all cards from the first view' : `up to ${viewsAtCards} views before the last card`}; measured in the page: the first 'view' event's dispatch (before the page parses it) -> the MutationObserver seeing the ${count}th li.rollback-card; to the next animation frame: median ${num(medianOf(frame))} ms; ${how}`;
      const s0 = samples[0].sizes;
      const figures: Figure[] = [
        {
          name: `console Now (${count} rollbacks): first view event -> ${count} cards rendered, median`,
          value: medianOf(render),
          unit: 'ms',
          goal: { op: '<=', value: 300 },
          note: renderNote,
        },
        {
          name: `console Now (${count} rollbacks): first view event -> ${count} cards rendered, p95`,
          value: p95(render),
          unit: 'ms',
          goal: { op: '<=', value: 300 },
          note: `nearest rank over ${loads} loads (with 10, the slowest)`,
        },
        {
          name: `console Now (${count} rollbacks): navigation start -> ${count} cards rendered, median`,
          value: medianOf(total),
          unit: 'ms',
          note: `${spread(total)}; of which navigation -> stream opened (page, app.js, app.css loaded and run) median ${num(medianOf(boot))} ms`,
        },
        { name: `console Now (${count} rollbacks): navigation start -> ${count} cards rendered, p95`, value: p95(total), unit: 'ms' },
        {
          name: `console Now (${count} rollbacks): stream opened -> first view event (serve's answer), median`,
          value: medianOf(server),
          unit: 'ms',
          note: `${spread(server)}; from the EventSource's construction to its first 'view' event: serve lists the running rollbacks and Queries each one's status (16 at a time), its caches cold`,
        },
        { name: `console Now (${count} rollbacks): stream opened -> first view event (serve's answer), p95`, value: p95(server), unit: 'ms' },
        {
          name: `console Now: navigation start -> ${count} cards / rollback list --json (medians)`,
          value: medianOf(total) / listMedian,
          unit: 'x',
          peer: { name: 'rearguard rollback list --json', value: listMedian, unit: 'ms' },
          note: `rollback list --json ${spread(listMs)}, process start to exit (CLI ${mode}), alternated with the page loads; it reads the visibility listing only (no status Query per rollback), the page also shows each one's SLA, phase and approvers`,
        },
        {
          name: 'console Now: bytes downloaded (document + app.js + app.css, compressed)',
          value: medianOf(bytes),
          unit: 'bytes',
          note: `Resource Timing transferSize (headers included): ${s0.files.join(', ')}; bodies ${s0.encoded} bytes encoded, ${s0.decoded} decoded; the event stream not counted`,
        },
        {
          name: `setup: ${count} rollbacks started and awaiting approval`,
          value: setup,
          unit: 's',
          note: 'triggerRollback, 8 in flight, until the visibility listing shows each awaiting approval',
        },
      ];
      return figures;
    } finally {
      for (const stop of stops) await stop().catch(() => undefined);
    }
  },
};
