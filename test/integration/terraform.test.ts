// The `terraform` step with real Terraform (or OpenTofu) and the built-in terraform_data resource, so
// nothing is downloaded: apply v2, roll back to v1, and the state and outputs equal a fresh apply of v1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Git } from '../../activities/git.js';
import { run } from '../../activities/process.js';
import { Terraform, type TerraformPlan } from '../../activities/terraform.js';
import { createRepo, type TestRepo } from '../helpers/git-repos.js';
import { toolPath } from '../helpers/tools.js';

const TF = () => toolPath('terraform');
const config = (version: string, extra = '') => `terraform {
  backend "local" {}
}
resource "terraform_data" "app" {
  input = "${version}"
}
${extra}
output "version" {
  value = terraform_data.app.output
}
`;
const cache = `resource "terraform_data" "cache" {
  input = "redis-7"
}
`;

let repo: TestRepo;
let dir: string;
const author = { name: 'Rearguard', email: 'rearguard@localhost' };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rearguard-tf-'));
  repo = await createRepo('infra');
  await repo.commit({ 'infra/app/main.tf': config('v1') }, 'app v1', 'v1');
  await repo.commit({ 'infra/app/main.tf': config('v2', cache) }, 'app v2 with a cache', 'v2');
});

async function tf(cwd: string, ...args: string[]): Promise<string> {
  const r = await run(TF(), [`-chdir=${cwd}`, ...args], { env: { TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' } });
  if (r.exitCode !== 0) throw new Error(`terraform ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Applies the configuration at `ref` into the state file, as a deploy pipeline would. */
async function deploy(ref: string, state: string): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'rearguard-tf-deploy-'));
  await run('git', ['clone', '--quiet', repo.url, work]);
  await run('git', ['-C', work, 'checkout', '--quiet', ref]);
  await tf(join(work, 'infra/app'), 'init', '-no-color', `-backend-config=path=${state}`);
  await tf(join(work, 'infra/app'), 'apply', '-no-color', '-auto-approve');
}

async function stateOf(state: string) {
  const work = await mkdtemp(join(tmpdir(), 'rearguard-tf-read-'));
  await run('git', ['clone', '--quiet', repo.url, work]);
  const cwd = join(work, 'infra/app');
  await tf(cwd, 'init', '-no-color', `-backend-config=path=${state}`);
  const shown = JSON.parse(await tf(cwd, 'show', '-json')) as {
    values?: { outputs?: unknown; root_module?: { resources?: { address: string; values: { input: unknown; output: unknown } }[] } };
  };
  return {
    outputs: shown.values?.outputs,
    resources: (shown.values?.root_module?.resources ?? []).map((r) => ({ address: r.address, input: r.values.input, output: r.values.output })),
  };
}

const terraform = (state: string, lockTimeout?: string) =>
  new Terraform(
    TF(),
    new Git('git', 'infra', { url: repo.url, branch: 'main', author, terraformBackendConfig: {} }, {}),
    { path: state },
    join(dir, 'work'),
    lockTimeout,
  );
const activity = <T>(fn: () => Promise<T>): Promise<T> => new MockActivityEnvironment({ startToCloseTimeoutMs: 300_000 }).run(fn) as Promise<T>;

describe('terraform step', () => {
  it('rolls back to a previous ref: state and outputs equal a fresh apply of that ref; a re-run changes nothing', async () => {
    const state = join(dir, 'prod.tfstate');
    await deploy('v2', state);
    const t = terraform(state);
    const plan: TerraformPlan = await activity(() => t.plan('infra', 'v1', 'infra/app', 'rollback:prod:app/run/terraform-1'));
    assert.equal(plan.commit, await repo.git('rev-parse', 'v1'));
    assert.deepEqual([plan.add, plan.change, plan.destroy], [0, 1, 1]);
    assert.deepEqual(plan.changes.sort(), ['delete terraform_data.cache', 'update terraform_data.app']);
    const result: Record<string, unknown> = await activity(() => t.apply(plan));
    assert.equal(result.applied, true);
    assert.ok(Number(result.toSerial) > Number(result.fromSerial), `state serial ${String(result.fromSerial)} -> ${String(result.toSerial)}`);
    assert.deepEqual(result.outputs, { version: '"v1"' });

    const fresh = join(dir, 'fresh-v1.tfstate');
    await deploy('v1', fresh);
    assert.deepEqual(await stateOf(state), await stateOf(fresh));

    const again: Record<string, unknown> = await activity(() => t.apply(plan));
    assert.equal(again.applied, false, 'the retry finds the saved plan stale and nothing left to change');
    assert.deepEqual(await stateOf(state), await stateOf(fresh));
  });

  it('respects the state lock: a locked state is a retryable StateLocked failure', async () => {
    const state = join(dir, 'locked.tfstate');
    await deploy('v1', state);
    // Another apply holds the lock while its provisioner sleeps.
    const locker = await mkdtemp(join(tmpdir(), 'rearguard-tf-lock-'));
    await run('git', ['clone', '--quiet', repo.url, locker]);
    const cwd = join(locker, 'infra/app');
    await run('git', ['-C', locker, 'checkout', '--quiet', 'v1']);
    await tf(cwd, 'init', '-no-color', `-backend-config=path=${state}`);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(cwd, 'slow.tf'), 'resource "terraform_data" "slow" {\n  provisioner "local-exec" {\n    command = "sleep 20"\n  }\n}\n');
    const holder = spawn(TF(), [`-chdir=${cwd}`, 'apply', '-no-color', '-auto-approve'], { stdio: 'ignore', env: { ...process.env, CHECKPOINT_DISABLE: '1' } });
    try {
      await new Promise((r) => setTimeout(r, 3_000));
      await assert.rejects(
        activity(() => terraform(state, '1s').plan('infra', 'v2', 'infra/app', 'lock-test')),
        (e: unknown) => {
          assert.ok(e instanceof ApplicationFailure, String(e));
          assert.equal(e.type, 'StateLocked');
          assert.equal(e.nonRetryable, false);
          assert.match(e.message, /state is locked/);
          return true;
        },
      );
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('refuses a ref that does not exist and a directory that is not there', async () => {
    const t = terraform(join(dir, 'x.tfstate'));
    await assert.rejects(
      activity(() => t.plan('infra', 'v9', 'infra/app', 'k1')),
      (e: unknown) => e instanceof ApplicationFailure && e.nonRetryable && /v9 does not name a commit/.test(e.message),
    );
    await assert.rejects(
      activity(() => t.plan('infra', 'v1', 'infra/nope', 'k2')),
      (e: unknown) => e instanceof ApplicationFailure && e.nonRetryable && /has no directory infra\/nope at v1/.test(e.message),
    );
  });
});
