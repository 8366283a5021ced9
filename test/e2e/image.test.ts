// The container image, played without a Docker engine (test/helpers/image.ts): the Dockerfile's build stage compiles
// the app from exactly the files it copies, the runtime stage installs only production dependencies, and the result
// runs as the image's user with a read-only root filesystem and a tmpfs on /tmp (what the Helm chart and the Compose
// file ask for): the worker starts from its CMD, the CLI in the same image starts a rollback that the worker runs to
// its end against the dev server, the audit trail lands on the volume, and SIGTERM ends the worker cleanly.
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { playDockerfile, runContainer, type Container, type Stage } from '../helpers/image.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { webhookRunbookYaml } from '../helpers/runbooks.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';
import { freePort } from '../helpers/processes.js';

let env: TestWorkflowEnvironment;
let receiver: Receiver;
let dir: string;
let stages: Stage[];
let worker: Container | undefined;

before(async () => {
  // One after the other, each kept as soon as it runs: `after` stops whatever started, even when a later one fails.
  stages = await playDockerfile();
  dir = await mkdtemp(join(tmpdir(), 'rearguard-image-e2e-'));
  receiver = await startReceiver();
  env = await createDevServerEnv();
});
after(async () => {
  await worker?.stop('SIGKILL');
  await Promise.all([env?.teardown(), receiver?.close()]);
  for (const d of [dir, ...(stages ?? []).map((s) => s.dir)]) if (d) await rm(d, { recursive: true, force: true });
});

/** A container of the image to its end: exit code and output. */
async function oneShot(image: Stage, argv: string[], envVars: Record<string, string>, volumes: Record<string, string>) {
  const c = runContainer(image, { argv, env: envVars, volumes, inputs: { '/input': join(dir, 'input') } });
  const code = await c.exited;
  return { code, output: c.output() };
}

describe('the container image', () => {
  it('runs as its user on a read-only root: the worker from its CMD, a rollback from its CLI, the audit on the volume', async () => {
    const image = stages.at(-1)!;
    assert.equal(stages.length, 2, 'a build stage and a runtime stage');
    assert.deepEqual(image.user, { uid: 1000, gid: 1000 }, 'USER node, not root');
    assert.deepEqual(image.cmd, ['node', 'dist/worker/main.js']);
    assert.equal(image.env.HOME, '/tmp', 'git and helm write their files under HOME: the tmpfs');
    // Production dependencies only: no TypeScript, no tsx, no webpack at run time.
    for (const dev of ['typescript', 'tsx', 'eslint', 'esbuild', 'preact'])
      await assert.rejects(access(join(image.dir, 'node_modules', dev)), `${dev} is not in the image`);
    await access(join(image.dir, 'dist', 'workflow-bundle.js'));
    await access(join(image.dir, 'dist', 'console', 'app.js'));

    const audit = join(dir, 'audit-volume');
    await mkdir(join(dir, 'input'), { recursive: true });
    await mkdir(audit);
    await writeFile(join(dir, 'input', 'app.yaml'), webhookRunbookYaml('imaged', receiver.url, ['one']));
    const volumes = { '/var/lib/rearguard': audit };
    const common = { TEMPORAL_ADDRESS: env.address, REARGUARD_TASK_QUEUE: `image-${Date.now()}` };

    // The sandbox really is read-only outside /tmp and the volume: a write elsewhere fails.
    const write = (path: string) => ['node', '-e', `require('fs').writeFileSync(${JSON.stringify(path)}, 'x')`];
    const ro = await oneShot(image, write('/app/dist/planted'), common, volumes);
    assert.notEqual(ro.code, 0);
    assert.match(ro.output, /EROFS|read-only file system/);
    assert.equal((await oneShot(image, write('/tmp/scratch'), common, volumes)).code, 0, 'the tmpfs is writable');
    assert.equal((await oneShot(image, ['id', '-u'], common, volumes)).output.trim(), '1000');

    worker = runContainer(image, {
      env: {
        ...common,
        REARGUARD_AUDIT_FILE: '/var/lib/rearguard/audit.jsonl',
        REARGUARD_DEV_MODE: '1',
        REARGUARD_RUNTIME_METRICS_PORT: '0',
        REARGUARD_METRICS_PORT: '0',
      },
      volumes,
    });
    await waitFor(() => worker!.output().includes('rearguard worker: task queue'), `the worker's start line`, { timeout: 90_000 });

    const cli = (args: string[]) => oneShot(image, ['node', 'bin/rearguard.js', ...args], { ...common, REARGUARD_ACTOR: 'dave' }, volumes);
    const start = await cli(['rollback', 'start', '--runbook', '/input/app.yaml', '--reason', 'bad deploy']);
    assert.equal(start.code, 0, start.output);
    const done = await cli(['rollback', 'status', '--env', 'dev', '--service', 'imaged', '--wait', '--json']);
    assert.equal(done.code, 0, `${done.output}\n--- worker:\n${worker.output()}`);
    assert.equal((JSON.parse(done.output.trim().split('\n').at(-1)!) as { outcome: string }).outcome, 'succeeded');
    assert.ok(
      receiver.requests.some((r) => r.path === '/imaged/one' && r.method === 'POST'),
      'the step reached its webhook',
    );
    const events = (await readFile(join(audit, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string });
    assert.ok(
      events.some((e) => e.action === 'rollback.succeeded'),
      events.map((e) => e.action).join(', '),
    );

    // serve from the image sends the web console built into dist/console/ (no bundler at run time).
    const port = await freePort();
    const serve = runContainer(image, { argv: ['node', 'bin/rearguard.js', 'serve', '--port', String(port)], env: common, volumes });
    try {
      await waitFor(() => serve.output().includes('console at'), `serve's start line`, { timeout: 60_000 });
      const page = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /console\/app\.js/);
      const script = await fetch(`http://127.0.0.1:${port}/console/app.js`);
      assert.equal(script.status, 200);
      assert.ok((await script.text()).length > 10_000, 'the bundled console');
    } finally {
      await serve.stop('SIGTERM');
    }

    // SIGTERM, as a pod's termination: the worker drains and exits 0.
    assert.equal(await worker.stop('SIGTERM'), 0, worker.output());
    worker = undefined;
  });
});
