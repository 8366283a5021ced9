// Goal 4: from an Alertmanager notification's arrival at `rearguard serve` to its rollback's first step
// running, p95 at most 1 s. A real Alertmanager (test/helpers/prometheus.ts; group_wait short, one group per
// alert) sends 50 notifications, one per service, to serve's alert intake (POST /v1/alerts, runbooks from
// `--runbooks DIR`); serve starts each runbook's rollback on a worker already running. The bench stands in
// front of serve as a pass-through proxy that notes when each notification arrives (its own forwarding, under a
// millisecond, is inside the figure); the end is the ActivityTaskStarted of the rollback's first step, from its
// history. Alertmanager's group_wait comes before the arrival and is not in the figure. A second batch sends
// them all at once (an alert storm), for context. Knobs: BENCH_ALERTS (50), BENCH_ALERT_PACE_MS (100).
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import type { BenchContext, Figure, Scenario } from '../types.js';
import { freePort } from '../../../test/helpers/processes.js';
import { startAlertmanager } from '../../../test/helpers/prometheus.js';
import { startReceiver } from '../../../test/helpers/receiver.js';
import { ROOT } from '../../../test/helpers/tools.js';
import { waitFor } from '../../../test/helpers/wait.js';
import {
  AuditFollower,
  cliCommand,
  median,
  percentile,
  rearguardEnv,
  round,
  runTimings,
  spread,
  startTemporal,
  startWorkerProcess,
  writeRunbook,
  workerMode,
  loadText,
} from './support.js';

const ALERTS = Number(process.env.BENCH_ALERTS ?? 50);
/** Pause between two alerts posted to Alertmanager (an incident's alerts do not all fire in one millisecond). */
const PACE_MS = Number(process.env.BENCH_ALERT_PACE_MS ?? 100);
const GROUP_WAIT = '100ms';
const ENV = 'bench';
const services = (prefix: string): string[] => Array.from({ length: ALERTS }, (_, i) => `${prefix}-${i}`);

interface Arrival {
  service: string;
  at: number;
  status?: number;
  action?: string;
}

/** A pass-through proxy to serve's /v1/alerts that notes each notification's arrival time (per alert's service). */
async function arrivalsProxy(target: string): Promise<{ url: string; arrivals: Arrival[]; close(): Promise<void> }> {
  const arrivals: Arrival[] = [];
  const upstream = new URL(target);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let mine: Arrival[] = [];
      try {
        const parsed = JSON.parse(body.toString('utf8')) as { alerts?: { status: string; labels: Record<string, string> }[] };
        mine = (parsed.alerts ?? []).filter((a) => a.status === 'firing').map((a) => ({ service: a.labels.service, at }));
        arrivals.push(...mine);
      } catch {
        // not JSON: serve answers 400
      }
      const fwd = request(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } },
        (up) => {
          const out: Buffer[] = [];
          up.on('data', (c: Buffer) => out.push(c));
          up.on('end', () => {
            const text = Buffer.concat(out).toString('utf8');
            try {
              const results = (JSON.parse(text) as { results?: { action: string }[] }).results ?? [];
              mine.forEach((m, i) => Object.assign(m, { status: up.statusCode, action: results[i]?.action }));
            } catch {
              mine.forEach((m) => (m.status = up.statusCode));
            }
            res.writeHead(up.statusCode ?? 502, up.headers).end(text);
          });
        },
      );
      fwd.on('error', (err) => res.writeHead(502).end(err.message));
      fwd.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export const alerts: Scenario = {
  name: 'alerts',
  description: `${ALERTS} Alertmanager notifications into rearguard serve's alert intake (paced, then all at once): arrival at serve -> first step started (p95)`,
  async run(ctx: BenchContext): Promise<Figure[]> {
    const { workDir, log } = ctx;
    const [temporal, receiver] = await Promise.all([startTemporal(join(workDir, 'temporal-alerts')), startReceiver()]);
    const stops: (() => Promise<unknown>)[] = [() => temporal.stop(), () => receiver.close()];
    try {
      const taskQueue = `bench-alerts-${randomUUID().slice(0, 8)}`;
      const env = rearguardEnv(temporal, workDir, taskQueue);
      const worker = await startWorkerProcess(workDir, env);
      stops.unshift(() => worker.stop('SIGTERM'));

      const dir = join(workDir, 'alert-runbooks');
      for (const name of [...services('svc'), ...services('storm')]) {
        await writeRunbook(
          dir,
          name,
          `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${name} }
spec:
  service: ${name}
  environment: ${ENV}
  sla: 5m
  steps:
    - { name: undo, type: webhook, url: "${receiver.url}/${name}/undo" }
  verify:
    - { type: http, url: "${receiver.url}/healthz" }
`,
        );
      }

      // and one to warm up with
      await writeRunbook(
        dir,
        'warm',
        `apiVersion: rearguard/v1\nkind: Runbook\nmetadata: { name: warm }\nspec:\n  service: warm\n  environment: ${ENV}\n  sla: 5m\n  steps:\n    - { type: webhook, url: "${receiver.url}/warm" }\n`,
      );

      // rearguard serve, as an operator runs it (the CLI: compiled when built).
      const token = randomBytes(16).toString('hex');
      const port = await freePort();
      const cli = cliCommand(['serve', '--host', '127.0.0.1', '--port', String(port), '--runbooks', dir]);
      const serve = spawn(cli.cmd, cli.args, {
        cwd: ROOT,
        env: { ...process.env, ...env, ...cli.env, REARGUARD_API_TOKEN: token },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let serveLog = '';
      serve.stderr.on('data', (c: Buffer) => (serveLog = (serveLog + c.toString()).slice(-20_000)));
      stops.unshift(async () => {
        serve.kill('SIGTERM');
        await new Promise((r) => serve.once('exit', r));
      });
      const serveUrl = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await fetch(`${serveUrl}/healthz`).catch(() => undefined))?.ok || undefined, 'rearguard serve', {
        timeout: 60_000,
        detail: () => serveLog,
      });
      const proxy = await arrivalsProxy(serveUrl);
      stops.unshift(() => proxy.close());

      // One group per alert (group_by service), notified group_wait after it arrives.
      const am = await startAlertmanager({
        webhookUrl: `${proxy.url}/v1/alerts`,
        bearerToken: token,
        groupBy: ['alertname', 'service'],
        groupWait: GROUP_WAIT,
        groupInterval: '1s',
        repeatInterval: '1h',
      });
      stops.unshift(() => am.stop());

      // Warm-up: one alert end to end, not counted (first start of serve's Temporal client and runbook cache).
      const post = async (labels: Record<string, string>) => {
        const res = await fetch(`${am.url}/api/v2/alerts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify([{ labels, annotations: { summary: 'bench' }, startsAt: new Date().toISOString() }]),
        });
        if (res.status !== 200) throw new Error(`Alertmanager refused the alert: ${res.status} ${await res.text()}`);
      };
      const audit = new AuditFollower(env.REARGUARD_AUDIT_FILE);
      await post({ alertname: 'BenchErrors', service: 'warm', environment: ENV });
      await audit.waitFor([`rollback:${ENV}:warm`], 60_000);

      /** Posts one alert per service (`pace` ms apart), waits for their rollbacks, and measures each. */
      const batch = async (prefix: string, pace: number) => {
        log(
          `alerts: posting ${ALERTS} alerts to Alertmanager, ${pace ? `one every ${pace} ms` : 'all at once'} (group_wait ${GROUP_WAIT}, one group per service)`,
        );
        for (const service of services(prefix)) {
          await post({ alertname: 'BenchErrors', service, environment: ENV, severity: 'page' });
          if (pace > 0) await new Promise((r) => setTimeout(r, pace));
        }
        await audit.waitFor(
          services(prefix).map((s) => `rollback:${ENV}:${s}`),
          5 * 60_000,
        );
        const latencies: number[] = [];
        const toStart: number[] = [];
        const problems: string[] = [];
        for (const service of services(prefix)) {
          const arrival = proxy.arrivals.find((a) => a.service === service);
          const t = await runTimings(temporal.client, `rollback:${ENV}:${service}`);
          const step = t.activities.find((a) => a.type === 'runStep');
          if (!arrival || !step?.started) {
            problems.push(`${service}: ${arrival ? 'no step started' : 'no notification arrived'}`);
            continue;
          }
          if (arrival.action !== 'started') problems.push(`${service}: serve answered ${arrival.status} ${arrival.action}`);
          latencies.push(step.started - arrival.at);
          toStart.push(t.start - arrival.at);
        }
        const split = `of which arrival -> workflow started (serve: match the runbook, start the rollback) median ${round(median(toStart))} ms, p95 ${round(percentile(toStart, 95))} ms`;
        log(`alerts: ${prefix}: arrival -> first step started ${spread(latencies)}; ${split}${problems.length ? `; problems: ${problems.join('; ')}` : ''}`);
        const note = `median ${round(median(latencies))} ms, max ${round(Math.max(...latencies))} ms, n=${latencies.length}, ${split}; Alertmanager group_wait ${GROUP_WAIT} (before the arrival, not counted); arrival noted by a pass-through proxy in front of serve, end = the first step's ActivityTaskStarted; serve: ${cli.mode}; ${workerMode()}; ${loadText()}${problems.length ? `; problems: ${problems.slice(0, 5).join('; ')}` : ''}`;
        return { p95: round(percentile(latencies, 95)), note };
      };
      const paced = await batch('svc', PACE_MS);
      const storm = await batch('storm', 0);
      return [
        {
          name: `alerts: arrival at serve -> first step started, p95 (${ALERTS} Alertmanager notifications, one every ${PACE_MS} ms)`,
          value: paced.p95,
          unit: 'ms',
          goal: { op: '<=', value: 1000 },
          note: paced.note,
        },
        {
          name: `alerts: the same, ${ALERTS} notifications at once (an alert storm), p95`,
          value: storm.p95,
          unit: 'ms',
          note: `no goal of its own: ${ALERTS} rollbacks start within ~100 ms and queue for the worker; ${storm.note}`,
        },
      ];
    } finally {
      for (const stop of stops) await stop().catch(() => undefined);
    }
  },
};
