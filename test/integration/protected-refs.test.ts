// Only reviewed history is restored or applied: gitops restores and terraform refs must be reachable from the
// repository's protected branch or be a protected tag. Real git repositories (a bare remote in a temp dir),
// real Terraform for the accepted terraform plan.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Git } from '../../activities/git.js';
import { Gitops, type GitopsPlan } from '../../activities/gitops.js';
import { tagMatches } from '../../activities/protected-refs.js';
import { loadTargets, type RepoConfig } from '../../activities/targets.js';
import { Terraform, type TerraformPlan } from '../../activities/terraform.js';
import { configDeploymentYaml } from '../helpers/fixtures.js';
import { createRepo, type TestRepo } from '../helpers/git-repos.js';
import { toolPath } from '../helpers/tools.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'rearguard-protected-'));
});

const activity = <T>(fn: () => Promise<T>): Promise<T> => new MockActivityEnvironment({ startToCloseTimeoutMs: 120_000 }).run(fn) as Promise<T>;
const config = (repo: TestRepo, extra: Partial<RepoConfig> = {}): RepoConfig => ({
  url: repo.url,
  branch: 'main',
  author: { name: 'Rearguard', email: 'rearguard@localhost' },
  terraformBackendConfig: {},
  ...extra,
});

/** Commits `files` on `branch` (made from main's head if new) and pushes that branch only; returns the commit. */
async function commitOn(repo: TestRepo, branch: string, files: Record<string, string>, message: string): Promise<string> {
  await repo.git('checkout', '--quiet', '-B', branch, 'main');
  for (const [path, content] of Object.entries(files)) {
    await writeFile(join(repo.work, path), content);
    await repo.git('add', path);
  }
  await repo.git('commit', '--quiet', '-m', message);
  const sha = await repo.git('rev-parse', 'HEAD');
  await repo.git('push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${branch}`);
  await repo.git('checkout', '--quiet', 'main');
  return sha;
}

/** A config repo: main has v1 (good) then v2; feature/hack has an unreviewed commit on top of v2. */
async function configRepo() {
  const repo = await createRepo('protected-config');
  const good = await repo.commit({ 'deployment.yaml': configDeploymentYaml('api:1.0') }, 'api 1.0');
  const v2 = await repo.commit({ 'deployment.yaml': configDeploymentYaml('api:2.0') }, 'api 2.0');
  const hack = await commitOn(repo, 'feature/hack', { 'deployment.yaml': configDeploymentYaml('api:evil') }, 'unreviewed');
  return { repo, good, v2, hack };
}

/** A ConfigurationError (final, so the workflow does not retry) whose message matches every pattern. */
const refused =
  (...patterns: RegExp[]) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof ApplicationFailure, String(e));
    assert.equal(e.type, 'ConfigurationError', e.message);
    assert.equal(e.nonRetryable, true);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  };

describe('protected refs: gitops restore', () => {
  it('refuses a restore to an unmerged feature branch, by name or by commit id, saying how to fix it', async () => {
    const { repo, hack } = await configRepo();
    const gitops = new Gitops(new Git('git', 'payments-config', config(repo), {}), work);
    await assert.rejects(
      activity(() => gitops.plan({ toRef: 'origin/feature/hack' }, 'k-feature')),
      refused(
        /^repository payments-config: origin\/feature\/hack \(commit [0-9a-f]{12}\) is not reviewed/,
        /not on the protected branch main, and no tags are protected \(repos\.payments-config\.protectedTags in REARGUARD_TARGETS is empty\)/,
        /; merge it into main, then name that ref in the runbook$/,
      ),
    );
    await assert.rejects(
      activity(() => gitops.plan({ toRef: hack }, 'k-feature-sha')),
      refused(new RegExp(`commit ${hack.slice(0, 12)} is not reviewed`)),
    );
    // A relative ref is judged by the commit it resolves to.
    await assert.rejects(
      activity(() => gitops.plan({ toRef: 'origin/feature/hack~0' }, 'k-rel')),
      refused(/origin\/feature\/hack~0 .*is not reviewed/),
    );
  });

  it('accepts a commit on main, and a relative ref that resolves into main, and restores it', async () => {
    const { repo, good, v2 } = await configRepo();
    const gitops = new Gitops(new Git('git', 'payments-config', config(repo), {}), work);
    const plan: GitopsPlan = await activity(() => gitops.plan({ toRef: good }, 'k-main'));
    assert.deepEqual(plan.commits, [good]);
    // feature/hack branched from v2, so its parent is reviewed history.
    const parent = await activity(() => gitops.plan({ toRef: 'origin/feature/hack~1' }, 'k-main-rel'));
    assert.deepEqual(parent.commits, [v2]);
    const made = await activity(() =>
      gitops.commit(plan, 'k-main', { title: 'Rollback api', actor: 'dave', reason: 'api 2.0 5xx', workflowId: 'rollback:prod:api' }),
    );
    assert.equal(made.created, true);
    await repo.git('fetch', '--quiet', 'origin');
    assert.equal(await repo.git('rev-parse', `${made.commit}^{tree}`), await repo.git('rev-parse', `${good}^{tree}`));
  });

  it('accepts a protected tag on an unmerged commit, refuses a tag that does not match protectedTags', async () => {
    const { repo } = await configRepo();
    const release = await commitOn(repo, 'release/1.2', { 'deployment.yaml': configDeploymentYaml('api:1.2') }, 'api 1.2 release');
    await repo.git('tag', '-a', '-m', 'release 1.2.0', 'v1.2.0', release);
    const experiment = await commitOn(repo, 'experiment', { 'deployment.yaml': configDeploymentYaml('api:exp') }, 'experiment');
    await repo.git('tag', 'exp-1', experiment);
    await repo.git('push', '--quiet', 'origin', '--tags');
    const gitops = new Gitops(new Git('git', 'payments-config', config(repo, { protectedTags: ['v*'] }), {}), work);

    const plan = await activity(() => gitops.plan({ toRef: 'v1.2.0' }, 'k-tag'));
    assert.deepEqual(plan.commits, [release], 'the annotated tag, peeled to its commit');
    await assert.rejects(
      activity(() => gitops.plan({ toRef: 'exp-1' }, 'k-exp')),
      refused(
        /exp-1 \(commit [0-9a-f]{12}\) is not reviewed/,
        /no tag matching protectedTags v\* points at it \(it is tagged exp-1\)/,
        /merge it into main or tag it with a tag matching v\*/,
      ),
    );
    // Not protected under the default (no tags): the release branch is not main.
    const strict = new Gitops(new Git('git', 'payments-config', config(repo), {}), work);
    await assert.rejects(
      activity(() => strict.plan({ toRef: 'v1.2.0' }, 'k-tag-strict')),
      refused(/v1\.2\.0 .*is not reviewed: .*no tags are protected \(it is tagged v1\.2\.0; repos/),
    );
  });

  it('judges against protectedBranch, not the branch the rollback commits to', async () => {
    const { repo, hack } = await configRepo();
    // Deploying from feature/hack does not make it reviewed while main is the protected branch.
    const onFeature = new Gitops(new Git('git', 'payments-config', config(repo, { branch: 'feature/hack', protectedBranch: 'main' }), {}), work);
    await assert.rejects(
      activity(() => onFeature.plan({ toRef: 'HEAD' }, 'k-pb')),
      refused(/HEAD \(commit [0-9a-f]{12}\) is not reviewed/),
    );
    const trusting = new Gitops(new Git('git', 'payments-config', config(repo, { branch: 'main', protectedBranch: 'feature/hack' }), {}), work);
    assert.deepEqual((await activity(() => trusting.plan({ toRef: hack }, 'k-pb2'))).commits, [hack]);
    const missing = new Gitops(new Git('git', 'payments-config', config(repo, { protectedBranch: 'trunk' }), {}), work);
    await assert.rejects(
      activity(() => missing.plan({ toRef: 'HEAD' }, 'k-pb3')),
      refused(/the protected branch trunk does not exist/),
    );
  });

  it('checks again when committing a restore, and refuses refs that git would read as options', async () => {
    const { repo, hack, v2 } = await configRepo();
    const gitops = new Gitops(new Git('git', 'payments-config', config(repo), {}), work);
    // A plan from elsewhere (an older worker) that names an unreviewed commit is not applied.
    const forged: GitopsPlan = { kind: 'gitops', repo: 'payments-config', branch: 'main', headBefore: v2, mode: 'restore', commits: [hack], subjects: ['x'] };
    await assert.rejects(
      activity(() => gitops.commit(forged, 'k-forged', { title: 't', actor: 'a', reason: 'r', workflowId: 'w' })),
      refused(/is not reviewed/),
    );
    assert.equal(await repo.git('ls-remote', repo.remote, 'refs/heads/main').then((l) => l.split('\t')[0]), v2, 'nothing pushed');
    await assert.rejects(
      activity(() => gitops.plan({ toRef: '--output=/tmp/x' }, 'k-dash')),
      refused(/ref --output=\/tmp\/x starts with '-'/),
    );
  });
});

describe('protected refs: terraform', () => {
  const tfConfig = (v: string) => `terraform {\n  backend "local" {}\n}\nresource "terraform_data" "app" {\n  input = "${v}"\n}\n`;

  it('refuses to plan a ref on an unreviewed branch, and to apply a plan of an unreviewed commit; plans a reviewed tag', async () => {
    const repo = await createRepo('protected-infra');
    await repo.commit({ 'main.tf': tfConfig('v1') }, 'infra v1', 'v1');
    const hack = await commitOn(repo, 'feature/open-sg', { 'main.tf': tfConfig('open') }, 'open the security group');
    const t = new Terraform(toolPath('terraform'), new Git('git', 'infra', config(repo), {}), { path: join(work, 'infra.tfstate') }, join(work, 'tf'));
    await assert.rejects(
      activity(() => t.plan('infra', 'origin/feature/open-sg', '.', 'k-tf-feature')),
      refused(/^repository infra: origin\/feature\/open-sg \(commit [0-9a-f]{12}\) is not reviewed/, /protected branch main/, /merge it into main/),
    );
    const forged: TerraformPlan = {
      kind: 'terraform',
      repo: 'infra',
      toRef: 'v1',
      commit: hack,
      workingDir: '.',
      add: 1,
      change: 0,
      destroy: 0,
      changes: ['create terraform_data.app'],
      planSha256: 'x',
      workspace: join(work, 'tf', 'forged'),
    };
    await assert.rejects(
      activity(() => t.apply(forged)),
      refused(new RegExp(`commit ${hack.slice(0, 12)} is not reviewed`)),
    );

    const plan = await activity(() => t.plan('infra', 'v1', '.', 'k-tf-v1'));
    assert.equal(plan.commit, await repo.git('rev-parse', 'v1'));
    assert.deepEqual([plan.add, plan.change, plan.destroy], [1, 0, 0]);
  });
});

describe('protected refs: targets file', () => {
  it('defaults protectedBranch to branch (then main), and refuses tag patterns starting with -', async () => {
    const file = join(work, 'targets.yaml');
    await writeFile(
      file,
      'repos:\n  a: { url: "file:///a.git" }\n  b: { url: "file:///b.git", branch: deploy }\n  c: { url: "file:///c.git", branch: deploy, protectedBranch: main, protectedTags: ["v*", "release/*"] }\n',
    );
    const { repos } = loadTargets(file);
    assert.deepEqual(
      Object.values(repos).map((r) => [r.branch, r.protectedBranch, r.protectedTags]),
      [
        ['main', 'main', undefined],
        ['deploy', 'deploy', undefined],
        ['deploy', 'main', ['v*', 'release/*']],
      ],
    );
    await writeFile(file, 'repos:\n  a: { url: "file:///a.git", protectedTags: ["--contains"] }\n');
    assert.throws(() => loadTargets(file), /REARGUARD_TARGETS .*repos\.a\.protectedTags\[0\]: expected a tag pattern/);
  });

  it('matches tag patterns within one path segment', () => {
    assert.deepEqual(
      [
        ['v1.2.0', 'v*'],
        ['v1.2.0', 'v?.?.?'],
        ['release/1.2', 'release/*'],
        ['release/1.2', 'v*'],
        ['v1/evil', 'v*'],
        ['xv1', 'v*'],
        ['v1+2', 'v1+2'],
      ].map(([t, p]) => tagMatches(t, p)),
      [true, true, true, false, false, false, true],
    );
  });
});
