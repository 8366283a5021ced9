// OpenTelemetry tracing end to end: with OTEL_EXPORTER_OTLP_ENDPOINT set, `rearguard rollback start` (the CLI) and
// the worker export their spans over OTLP/HTTP; the test is the collector (it receives the OTLP JSON the exporters
// send, as a collector's otlphttp receiver does). One trace holds the CLI's start of the rollback, the workflow run,
// and each activity, linked parent to child.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { rearguardEnv } from '../helpers/fixtures.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
}

let env: TestWorkflowEnvironment;
let dir: string;
let receiver: Receiver;
let collector: Server;
let worker: WorkerProcess | undefined;
const spans: Span[] = [];
let e: Record<string, string>;

before(async () => {
  [env, dir, receiver] = await Promise.all([createDevServerEnv(), mkdtemp(join(tmpdir(), 'rearguard-tracing-')), startReceiver()]);
  collector = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.includes('json')) {
        const payload = JSON.parse(body) as {
          resourceSpans: {
            resource: { attributes: { key: string; value: { stringValue?: string } }[] };
            scopeSpans: { spans: Omit<Span, 'service'>[] }[];
          }[];
        };
        for (const rs of payload.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
          for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
    OTEL_BSP_SCHEDULE_DELAY: '200',
  };
  e = { ...rearguardEnv(env, dir, 'tracing'), ...otel };
  worker = await startWorker({ ...e, REARGUARD_METRICS_PORT: '0' });
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
  collector?.close();
  await env?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('OpenTelemetry tracing', () => {
  it('one trace: the CLI starts the rollback, the workflow runs, each activity runs, parent to child', async () => {
    assert.match(worker!.output(), /tracing on \(OTLP\)/);
    const file = join(dir, 'traced.yaml');
    await writeFile(
      file,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: traced-dev }
spec:
  service: traced
  environment: dev
  sla: 5m
  steps:
    - { name: undo, type: webhook, url: "${receiver.url}/traced/undo" }
`,
    );
    const r = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'traced', '--as', 'alice', '--wait'], e);
    assert.equal(r.code, 0, r.stdout + r.stderr);

    const trace = await waitFor(
      () => {
        const client = spans.find((s) => s.service === 'rearguard-cli' && /Workflow:rollback$/.test(s.name));
        const run = client && spans.find((s) => s.traceId === client.traceId && s.name === 'RunWorkflow:rollback');
        const step = run && spans.find((s) => s.traceId === client.traceId && s.name === 'RunActivity:runStep');
        return client && run && step ? { client, run, step } : undefined;
      },
      'the CLI, workflow and activity spans of one trace',
      { timeout: 30_000, interval: 200, detail: () => JSON.stringify(spans.map((s) => [s.service, s.name]).slice(0, 40)) },
    );
    assert.equal(trace.client.parentSpanId || undefined, undefined, 'the CLI starts the trace');
    assert.equal(trace.run.parentSpanId, trace.client.spanId, 'the workflow run is a child of the CLI call');
    assert.equal(trace.run.service, 'rearguard-worker');
    // The activity's span descends from the workflow run (through the workflow's StartActivity span).
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const ancestors: string[] = [];
    for (let s: Span | undefined = trace.step; s?.parentSpanId; s = byId.get(s.parentSpanId)) ancestors.push(s.parentSpanId);
    assert.ok(ancestors.includes(trace.run.spanId), `runStep's ancestors: ${ancestors.map((id) => byId.get(id)?.name).join(' <- ')}`);
    const names = new Set(spans.filter((s) => s.traceId === trace.client.traceId).map((s) => s.name));
    for (const n of ['RunActivity:appendAudit', 'RunActivity:preflight']) assert.ok(names.has(n), `${n} in ${[...names].join(', ')}`);
  });
});
