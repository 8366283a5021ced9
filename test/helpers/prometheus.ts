// Real Prometheus and Alertmanager for tests: Debian's packages, unpacked (not installed) by
// scripts/provision-prometheus.sh, each started by the test on a free loopback port with its config and
// data in a temporary directory, and stopped after. Plus what they talk to: a metrics target whose request
// rate, error ratio and latency the test sets, and a webhook receiver that records Alertmanager's calls.
// A missing binary is an error with the command to fix it, never a skipped test (in CI too).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './processes.js';
import { waitFor } from './wait.js';
import { ROOT } from './tools.js';

const BINARIES = {
  prometheus: { env: 'REARGUARD_PROMETHEUS_BIN', file: '.tools/bin/prometheus' },
  alertmanager: { env: 'REARGUARD_ALERTMANAGER_BIN', file: '.tools/bin/alertmanager' },
  promtool: { env: 'REARGUARD_PROMTOOL_BIN', file: '.tools/bin/promtool' },
} as const;

/** Like toolPath (./tools.js): the environment variable, else .tools/bin; missing is an error. */
export function prometheusToolPath(name: keyof typeof BINARIES): string {
  const { env, file } = BINARIES[name];
  const path = process.env[env] ?? `${ROOT}${file}`;
  if (!existsSync(path)) {
    throw new Error(`${name} not found at ${path}: run \`bash scripts/provision-prometheus.sh\` (npm test does) or set ${env}`);
  }
  return path;
}

export interface RunningServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Temporary directory with the config and data; removed by stop(). */
  dir: string;
  /** The process's output so far (the last 64 KiB). */
  logs(): string;
  /** SIGTERM (SIGKILL after 5 s), then removes the directory. Safe to call twice. */
  stop(): Promise<void>;
}

async function startServer(name: keyof typeof BINARIES, dir: string, port: number, args: string[], readyMs: number): Promise<RunningServer> {
  const child: ChildProcess = spawn(prometheusToolPath(name), args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const onData = (c: Buffer) => {
    output += c.toString();
    if (output.length > 64 << 10) output = output.slice(-(64 << 10));
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null && !spawnError;
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (running()) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000).unref())]);
        if (running()) child.kill('SIGKILL');
        await exited;
      }
      process.removeListener('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    })());

  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (!running()) throw new Error(`${name} exited (${spawnError?.message ?? child.exitCode ?? child.signalCode}) before it was ready`);
        const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
        await res?.text().catch(() => undefined);
        return res?.ok || undefined;
      },
      `${name} ready on ${url}`,
      readyMs,
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- ${name} output ---\n${output}`);
  }
  return { url, dir, logs: () => output, stop };
}

// ---------------------------------------------------------------------------------------------------------------------
// Prometheus

export interface PrometheusOptions {
  /** host:port of each target, scraped at /metrics under job `jobName`. */
  scrapeTargets: string[];
  jobName?: string;
  /** Default 1s. */
  scrapeInterval?: string;
  /** Default 1s. */
  evaluationInterval?: string;
  /** Content of a rule file (`groups: [...]`), loaded at start; Prometheus refuses to start if it is invalid. */
  rules?: string;
  /** Where firing alerts go, e.g. `startAlertmanager(...).url`. */
  alertmanagerUrl?: string;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
  value: string;
}

export interface Prometheus extends RunningServer {
  /** GET /api/v1/query: the instant vector (or a scalar as one sample with no labels); rejects on a query error. */
  query(expr: string): Promise<PromSample[]>;
  /** GET /api/v1/alerts: the alerts pending or firing. */
  alerts(): Promise<PromAlert[]>;
  /** GET any other /api/v1 path (e.g. `alertmanagers`, `targets`): its `data`. */
  api<T>(path: string): Promise<T>;
}

async function promApi<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { status: string; data: T; errorType?: string; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${res.status} ${body.errorType ?? ''}: ${body.error ?? JSON.stringify(body)}`);
  return body.data;
}

export async function startPrometheus(opts: PrometheusOptions): Promise<Prometheus> {
  prometheusToolPath('prometheus');
  const dir = await mkdtemp(join(tmpdir(), 'rearguard-prometheus-'));
  const interval = opts.evaluationInterval ?? '1s';
  const config: Record<string, unknown> = {
    global: { scrape_interval: opts.scrapeInterval ?? '1s', scrape_timeout: opts.scrapeInterval ?? '1s', evaluation_interval: interval },
    scrape_configs: [{ job_name: opts.jobName ?? 'app', static_configs: [{ targets: opts.scrapeTargets }] }],
  };
  if (opts.rules !== undefined) {
    await writeFile(join(dir, 'rules.yml'), opts.rules);
    config.rule_files = [join(dir, 'rules.yml')];
  }
  if (opts.alertmanagerUrl !== undefined) {
    const am = new URL(opts.alertmanagerUrl);
    const alertmanager: Record<string, unknown> = { scheme: am.protocol.replace(':', ''), api_version: 'v2', static_configs: [{ targets: [am.host] }] };
    if (am.pathname !== '/') alertmanager.path_prefix = am.pathname;
    config.alerting = { alertmanagers: [alertmanager] };
  }
  await writeFile(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const server = await startServer(
    'prometheus',
    dir,
    port,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Prometheus sends a firing alert once, then again only after this delay; an alert that fires before the
      // Alertmanager is discovered (~5 s after start) would otherwise wait a minute (the default) to be resent.
      `--rules.alert.resend-delay=${interval}`,
      '--log.level=warn',
    ],
    30_000,
  );
  return {
    ...server,
    query: async (expr) => {
      const data = await promApi<{ resultType: string; result: PromSample[] | [number, string] }>(
        `${server.url}/api/v1/query?${new URLSearchParams({ query: expr })}`,
      );
      if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
      return data.result as PromSample[];
    },
    alerts: async () => (await promApi<{ alerts: PromAlert[] }>(`${server.url}/api/v1/alerts`)).alerts,
    api: (path) => promApi(`${server.url}/api/v1/${path.replace(/^\//, '')}`),
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Alertmanager

export interface AlertmanagerOptions {
  /** Every alert is routed to this webhook (receiver `webhook`, send_resolved: true). */
  webhookUrl: string;
  /** Sent as `Authorization: Bearer <token>`. */
  bearerToken?: string;
  /** Default ['alertname']. */
  groupBy?: string[];
  /** Default 1s. */
  groupWait?: string;
  /** Default 1s (Alertmanager refuses 0). */
  groupInterval?: string;
  /** Default 1h. */
  repeatInterval?: string;
}

export async function startAlertmanager(opts: AlertmanagerOptions): Promise<RunningServer> {
  const bin = prometheusToolPath('alertmanager');
  const dir = await mkdtemp(join(tmpdir(), 'rearguard-alertmanager-'));
  // Debian's Alertmanager reads its default templates from /usr/share/prometheus/alertmanager; the provisioned
  // one (not installed there) reads them from ./alertmanager-templates instead (scripts/provision-prometheus.sh).
  const templates = join(dirname(realpathSync(bin)), '../share/prometheus/alertmanager');
  if (existsSync(join(templates, 'default.tmpl'))) await symlink(templates, join(dir, 'alertmanager-templates'));
  const webhook: Record<string, unknown> = { url: opts.webhookUrl, send_resolved: true };
  if (opts.bearerToken !== undefined) webhook.http_config = { authorization: { type: 'Bearer', credentials: opts.bearerToken } };
  const config = {
    route: {
      receiver: 'webhook',
      group_by: opts.groupBy ?? ['alertname'],
      group_wait: opts.groupWait ?? '1s',
      group_interval: opts.groupInterval ?? '1s',
      repeat_interval: opts.repeatInterval ?? '1h',
    },
    receivers: [{ name: 'webhook', webhook_configs: [webhook] }],
  };
  await writeFile(join(dir, 'alertmanager.yml'), stringify(config));
  const port = await freePort();
  return startServer(
    'alertmanager',
    dir,
    port,
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty: no cluster (no gossip port, and no wait for peers to settle before notifying).
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    30_000,
  );
}

// ---------------------------------------------------------------------------------------------------------------------
// A scrape target

export interface TargetSettings {
  /** Requests per second (default 10). */
  rps: number;
  /** Share of requests answered 500 (default 0). */
  errorRatio: number;
  /** Duration of every request (default 0.05). */
  latencySeconds: number;
  /** /healthz answers 200 when true (default), 500 when false. */
  healthy: boolean;
}

export interface MetricsTarget {
  /** 127.0.0.1:<port>, for scrapeTargets. */
  hostPort: string;
  url: string;
  /** Changes the settings from now on; what elapsed until now is counted with the previous ones. */
  set(settings: Partial<TargetSettings>): void;
  settings(): TargetSettings;
  stop(): Promise<void>;
}

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A service's /metrics: `http_requests_total{method="GET",code="200"|"500"}` and the histogram
 * `http_request_duration_seconds{method="GET"}`, advancing with wall time at the current settings (computed on
 * each scrape from the time elapsed, so no timers), and /healthz.
 */
export async function startMetricsTarget(initial: Partial<TargetSettings> = {}): Promise<MetricsTarget> {
  let settings: TargetSettings = { rps: 10, errorRatio: 0, latencySeconds: 0.05, healthy: true, ...initial };
  let last = Date.now();
  const requests = { ok: 0, errors: 0 };
  const duration = { count: 0, sum: 0, buckets: BUCKETS.map(() => 0) };
  const advance = () => {
    const now = Date.now();
    const n = (settings.rps * (now - last)) / 1000;
    last = now;
    requests.errors += n * settings.errorRatio;
    requests.ok += n * (1 - settings.errorRatio);
    duration.count += n;
    duration.sum += n * settings.latencySeconds;
    BUCKETS.forEach((le, i) => {
      if (settings.latencySeconds <= le) duration.buckets[i] += n;
    });
  };
  const exposition = () => {
    advance();
    const lines = [
      '# HELP http_requests_total Requests handled, by status code.',
      '# TYPE http_requests_total counter',
      `http_requests_total{method="GET",code="200"} ${requests.ok}`,
      `http_requests_total{method="GET",code="500"} ${requests.errors}`,
      '# HELP http_request_duration_seconds Request duration.',
      '# TYPE http_request_duration_seconds histogram',
      ...BUCKETS.map((le, i) => `http_request_duration_seconds_bucket{method="GET",le="${le}"} ${duration.buckets[i]}`),
      `http_request_duration_seconds_bucket{method="GET",le="+Inf"} ${duration.count}`,
      `http_request_duration_seconds_sum{method="GET"} ${duration.sum}`,
      `http_request_duration_seconds_count{method="GET"} ${duration.count}`,
    ];
    return lines.join('\n') + '\n';
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(exposition());
    else if (path === '/healthz') res.writeHead(settings.healthy ? 200 : 500, { 'content-type': 'text/plain' }).end(settings.healthy ? 'ok\n' : 'unhealthy\n');
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hostPort = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    hostPort,
    url: `http://${hostPort}`,
    set: (s) => {
      advance();
      settings = { ...settings, ...s };
    },
    settings: () => ({ ...settings }),
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Alertmanager's webhook

/** Alertmanager's webhook body (version "4"). */
export interface AlertmanagerWebhook {
  version: string;
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: {
    status: 'firing' | 'resolved';
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
    endsAt: string;
    generatorURL: string;
    fingerprint: string;
  }[];
}

export interface WebhookCall {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: AlertmanagerWebhook;
}

export interface WebhookReceiver {
  /** http://127.0.0.1:<port>/alerts */
  url: string;
  calls: WebhookCall[];
  /** Resolves with the first call (already received or to come) that matches. */
  next(match: (call: WebhookCall) => boolean, what: string, ms?: number): Promise<WebhookCall>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const calls: WebhookCall[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      let parsed: AlertmanagerWebhook;
      try {
        parsed = JSON.parse(body) as AlertmanagerWebhook;
      } catch {
        res.writeHead(400).end();
        return;
      }
      calls.push({ at: Date.now(), path: req.url ?? '/', headers: req.headers, body: parsed });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    calls,
    next: (match, what, ms = 30_000) => waitFor(() => calls.find(match), what, ms),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
