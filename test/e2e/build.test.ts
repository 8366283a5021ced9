// The production build (`npm run build`: dist/ and dist/workflow-bundle.js) works on plain node: nothing in it
// imports tsx or a .ts file; the built CLI answers --version and validates a runbook; the built worker starts with
// the prebuilt bundle (no webpack at start), polls (it runs a freeze that the built CLI starts) and serves /metrics.
// The other tests run the sources (test/helpers/tools.ts CLI); this one builds first when dist/ is missing or older
// than the sources, as `npm start` does (a no-op when it is current).
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildProblem } from '../../bin/build-state.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { freePort } from '../helpers/processes.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { CLI, ROOT } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const DIST = join(ROOT, 'dist');
/** Plain node: no tsx, whatever the test runner was started with. */
const plain = (env: Record<string, string> = {}): NodeJS.ProcessEnv => ({ ...process.env, NODE_OPTIONS: '', REARGUARD_FROM_SOURCE: '', ...env });

async function built(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [CLI, ...args], { cwd: ROOT, env: plain(env) }).then(
    (r) => ({ code: 0, ...r }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
}

let env: TestWorkflowEnvironment;
let worker: ChildProcess | undefined;

before(async () => {
  const server = createDevServerEnv();
  await promisify(execFile)('npm', ['run', '--silent', 'build', '--', '--if-stale'], { cwd: ROOT, timeout: 300_000 });
  env = await server;
});
after(async () => {
  worker?.kill('SIGKILL');
  await env?.teardown();
});

describe('the production build', () => {
  it('is current and needs no tsx: no compiled module imports tsx or a .ts file', async () => {
    assert.equal(buildProblem(), undefined);
    const files = (await readdir(DIST, { recursive: true })).filter((f) => f.endsWith('.js') && f !== 'workflow-bundle.js');
    assert.ok(files.includes(join('client', 'main.js')) && files.includes(join('worker', 'main.js')), files.join(' '));
    const specifiers = /(?:\bfrom\s*|\bimport\s*\(\s*)['"]([^'"]+)['"]/g;
    for (const file of files)
      for (const [, spec] of (await readFile(join(DIST, file), 'utf8')).matchAll(specifiers))
        assert.ok(spec !== 'tsx' && !spec.startsWith('tsx/') && !spec.endsWith('.ts'), `dist/${file} imports ${spec}`);
  });

  it('bin/rearguard.js runs it with plain node: --version, runbook validate', async () => {
    assert.deepEqual(await built(['--version']), { code: 0, stdout: '0.1.0\n', stderr: '' });
    const valid = await built(['runbook', 'validate', 'runbooks/payments-prod.yaml']);
    assert.equal(valid.code, 0, valid.stderr);
    assert.match(valid.stdout, /^runbooks\/payments-prod\.yaml: valid runbook payments-prod \(prod\/payments\)/);
  });

  it('the built worker starts on the prebuilt bundle, polls, and serves /metrics', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'rearguard-build-'));
    const metricsPort = await freePort();
    const e = rearguardEnv(env, dir, 'build', { REARGUARD_METRICS_PORT: String(metricsPort), REARGUARD_METRICS_HOST: '127.0.0.1' });
    const spawned = Date.now();
    worker = spawn(process.execPath, [join(DIST, 'worker', 'main.js')], { cwd: ROOT, env: plain({ ...e, REARGUARD_DEV_MODE: '1' }), stdio: 'pipe' });
    let log = '';
    worker.stdout!.on('data', (c: Buffer) => (log += c.toString()));
    worker.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    const ready = await waitFor(() => /rearguard worker: task queue .*/.exec(log)?.[0], 'the built worker', { timeout: 60_000, detail: () => log });
    t.diagnostic(`built worker: from spawn to polling in ${Date.now() - spawned} ms`);
    assert.match(ready, new RegExp(`workflows: bundle ${join(DIST, 'workflow-bundle.js')};`), 'the build’s own bundle, no webpack at start');
    assert.doesNotMatch(log, /webpack|Workflow bundle created/i);

    const started = await built(['freeze', 'start', '--name', 'built', '--env', 'prod', '--duration', '1h', '--reason', 'build test', '--as', 'rm-ann'], e);
    assert.equal(started.code, 0, `${started.stderr}\n${log}`);
    const check = await built(['freeze', 'check', '--env', 'prod', '--service', 'payments'], e);
    assert.equal(check.code, 3, check.stderr);
    assert.match(check.stderr, /built/);
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(metrics.status, 200);
  });
});
