// The `terraform` step: apply the configuration as it was at `toRef`. The plan phase checks that ref
// out into a scratch directory, runs init and `plan -out`, and returns a summary (counts and resource
// addresses, never the plan itself) that the workflow records and may ask a person to approve. The
// apply phase applies exactly that saved plan; a stale plan (state moved, e.g. our own apply landed
// before a crash) is re-planned and accepted only if nothing is left to change.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { configurationError } from './errors.js';
import type { TerraformPlan } from '../runbook/plan.js';
import type { Git } from './git.js';
import { failureText, run, type RunResult } from './process.js';
import { requireProtected } from './protected-refs.js';

export type { TerraformPlan };

const PLAN_FILE = 'rearguard.tfplan';

export class Terraform {
  constructor(
    readonly bin: string,
    readonly git: Git,
    readonly backendConfig: Record<string, string>,
    readonly workRoot: string,
    readonly lockTimeout = '60s',
  ) {}

  private tf(dir: string, args: string[], timeoutMs = 15 * 60_000): Promise<RunResult> {
    return run(this.bin, [`-chdir=${dir}`, ...args], { timeoutMs, env: { TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' } });
  }

  private async ok(dir: string, args: string[]): Promise<string> {
    const r = await this.tf(dir, args);
    if (r.exitCode !== 0) throw classify(r);
    return r.stdout;
  }

  /** A fresh checkout of `ref` with an initialised working directory. */
  private async checkout(workspace: string, ref: string, workingDir: string): Promise<{ dir: string; commit: string }> {
    await rm(workspace, { recursive: true, force: true });
    await mkdir(workspace, { recursive: true });
    const src = join(workspace, 'src');
    await this.git.clone(src, { noCheckout: true });
    const commit = await this.git.resolve(src, ref);
    // Only reviewed configuration is applied: the commit must be on the protected branch or a protected tag's.
    await requireProtected(this.git, src, ref, commit);
    await this.git.ok(src, ['checkout', '--quiet', '--detach', commit], true);
    const dir = join(src, workingDir);
    if (!existsSync(dir)) throw configurationError(`repository ${this.git.name} has no directory ${workingDir} at ${ref}`);
    await this.ok(dir, [
      'init',
      '-no-color',
      `-lock-timeout=${this.lockTimeout}`,
      ...Object.entries(this.backendConfig).map(([k, v]) => `-backend-config=${k}=${v}`),
    ]);
    return { dir, commit };
  }

  private async makePlan(dir: string): Promise<Pick<TerraformPlan, 'add' | 'change' | 'destroy' | 'changes' | 'planSha256'>> {
    await this.ok(dir, ['plan', '-no-color', `-lock-timeout=${this.lockTimeout}`, `-out=${PLAN_FILE}`]);
    const shown = JSON.parse(await this.ok(dir, ['show', '-json', PLAN_FILE])) as { resource_changes?: { address: string; change: { actions: string[] } }[] };
    let add = 0;
    let change = 0;
    let destroy = 0;
    const changes: string[] = [];
    for (const rc of shown.resource_changes ?? []) {
      const a = rc.change.actions;
      if (a.includes('create')) add++;
      if (a.includes('delete')) destroy++;
      if (a.includes('update')) change++;
      if (!(a.length === 1 && (a[0] === 'no-op' || a[0] === 'read'))) changes.push(`${a.join('+')} ${rc.address}`);
    }
    const planSha256 = createHash('sha256')
      .update(await readFile(join(dir, PLAN_FILE)))
      .digest('hex');
    return { add, change, destroy, changes: changes.slice(0, 50), planSha256 };
  }

  /** The state's serial number (0 for no state yet); the state itself may hold secrets and is not kept. */
  private async serial(dir: string): Promise<number> {
    const text = (await this.ok(dir, ['state', 'pull'])).trim();
    return text ? Number((JSON.parse(text) as { serial?: number }).serial ?? 0) : 0;
  }

  async plan(repo: string, toRef: string, workingDir: string, key: string): Promise<TerraformPlan> {
    const workspace = join(this.workRoot, 'terraform', createHash('sha256').update(key).digest('hex').slice(0, 16));
    const { dir, commit } = await this.checkout(workspace, toRef, workingDir);
    return { kind: 'terraform', repo, toRef, commit, workingDir, ...(await this.makePlan(dir)), workspace };
  }

  async apply(plan: TerraformPlan): Promise<Record<string, unknown>> {
    let dir = join(plan.workspace, 'src', plan.workingDir);
    const planPath = join(dir, PLAN_FILE);
    const saved =
      existsSync(planPath) &&
      createHash('sha256')
        .update(await readFile(planPath))
        .digest('hex') === plan.planSha256;
    // The saved plan's checkout was checked when planned; check again before applying (the plan may come from an
    // older worker, or the protected history may have moved). Without it, the re-plan below checks its own checkout.
    if (saved) await requireProtected(this.git, join(plan.workspace, 'src'), plan.toRef, plan.commit);
    let applied = false;
    // "From" of a Terraform rollback is the state before it: its serial (nothing else of the state is kept).
    let fromSerial = saved ? await this.serial(dir) : undefined;
    if (saved) {
      const r = await this.tf(dir, ['apply', '-no-color', '-auto-approve', `-lock-timeout=${this.lockTimeout}`, PLAN_FILE]);
      if (r.exitCode === 0) applied = true;
      else if (!/Saved plan is stale/i.test(r.stderr)) throw classify(r);
    }
    if (!applied) {
      // Another worker, or the state moved since the plan (our own apply may have landed before a
      // crash): plan again at the recorded commit. Nothing to change means the rollback is done;
      // anything else was not what was planned (and perhaps approved), so stop.
      ({ dir } = await this.checkout(plan.workspace, plan.commit, plan.workingDir));
      fromSerial ??= await this.serial(dir);
      const again = await this.makePlan(dir);
      if (again.changes.length > 0) {
        if (saved || again.add !== plan.add || again.change !== plan.change || again.destroy !== plan.destroy || again.changes.join() !== plan.changes.join()) {
          throw ApplicationFailure.nonRetryable(
            `the state changed since the plan was made (${plan.add} to add, ${plan.change} to change, ${plan.destroy} to destroy was planned; now ${again.add}/${again.change}/${again.destroy}); start the rollback again to plan afresh`,
            'PlanChanged',
          );
        }
        await this.ok(dir, ['apply', '-no-color', '-auto-approve', `-lock-timeout=${this.lockTimeout}`, PLAN_FILE]);
        applied = true;
      }
    }
    const toSerial = await this.serial(dir);
    const outputs = JSON.parse(await this.ok(dir, ['output', '-json', '-no-color'])) as Record<string, { sensitive: boolean; value: unknown }>;
    // The checkout and saved plan have served their purpose; a retry re-plans from the recorded commit.
    await rm(plan.workspace, { recursive: true, force: true });
    return {
      repo: plan.repo,
      toRef: plan.toRef,
      commit: plan.commit,
      workingDir: plan.workingDir,
      add: plan.add,
      change: plan.change,
      destroy: plan.destroy,
      applied,
      fromSerial,
      toSerial,
      outputs: Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, o.sensitive ? '(sensitive)' : JSON.stringify(o.value).slice(0, 200)])),
    };
  }
}

function classify(r: RunResult): ApplicationFailure {
  const text = failureText(r, 600);
  if (/Error acquiring the state lock/i.test(r.stderr))
    return ApplicationFailure.retryable(`the Terraform state is locked by another operation: ${text}`, 'StateLocked');
  if (/Error: (Unsupported|Invalid|Missing required|Reference to undeclared)|Configuration is invalid/i.test(r.stderr))
    return ApplicationFailure.nonRetryable(text, 'ConfigurationError');
  return ApplicationFailure.retryable(text, 'TerraformFailed');
}
