// Targets with a deploy history, for the repeat-rule tests: a Deployment, a Helm release and a GitOps
// config repository that went ... -> 1.25 -> 1.27 (the bad version), built with the real tools (kubectl,
// helm, git), so what Rearguard rolls back is exactly what a deploy pipeline would have left.
import { run } from '../../activities/process.js';
import type { Testbed } from '../testbed/cluster.js';
import { configDeploymentYaml, deploymentYaml, rolloutStatus } from './fixtures.js';
import { createRepo, type TestRepo } from './git-repos.js';
import { ROOT, toolPath } from './tools.js';

export const VERSIONS = ['1.24', '1.25', '1.27'] as const;

const deployment = (ns: string, name: string, tag: string) =>
  deploymentYaml({ namespace: ns, name, image: `registry.local/${name}:${tag}`, revisionHistoryLimit: 10 });

export async function ensureNamespace(bed: Testbed, ns: string): Promise<void> {
  await bed.kubectl(['create', 'namespace', ns]).catch((err: Error) => {
    if (!/AlreadyExists/.test(err.message)) throw err;
  });
}

/** The Deployment's image tag and revision now. */
export async function deploymentState(bed: Testbed, ns: string, name: string): Promise<{ tag: string; revision: number; annotations: Record<string, string> }> {
  const dep = JSON.parse(await bed.kubectl(['get', 'deployment', name, '-n', ns, '-o', 'json'])) as {
    metadata: { annotations: Record<string, string> };
    spec: { template: { spec: { containers: { image: string }[] } } };
  };
  return {
    tag: dep.spec.template.spec.containers[0].image.split(':').at(-1)!,
    revision: Number(dep.metadata.annotations['deployment.kubernetes.io/revision']),
    annotations: dep.metadata.annotations,
  };
}

/** A new deploy of `tag` (`kubectl set image`), waited for like a pipeline would. */
export async function deployImage(bed: Testbed, ns: string, name: string, tag: string): Promise<void> {
  await bed.kubectl(['set', 'image', '-n', ns, `deployment/${name}`, `${name}=registry.local/${name}:${tag}`]);
  await rolloutStatus(bed, ns, name);
}

/** Deployment `name` with revisions 1, 2, 3 = images 1.24, 1.25, 1.27 (the current, bad one). */
export async function deploymentWithHistory(bed: Testbed, ns: string, name: string): Promise<void> {
  await ensureNamespace(bed, ns);
  await bed.kubectl(['apply', '-f', '-'], deployment(ns, name, VERSIONS[0]));
  await rolloutStatus(bed, ns, name);
  for (const tag of VERSIONS.slice(1)) await deployImage(bed, ns, name, tag);
}

/** helm as a pipeline runs it, against the testbed. */
export async function helmCli(bed: Testbed, ns: string, ...args: string[]): Promise<string> {
  const r = await run(toolPath('helm'), [...args, '--namespace', ns, '--kubeconfig', bed.kubeconfig]);
  if (r.exitCode !== 0) throw new Error(`helm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const CHART = `${ROOT}test/fixtures/charts/web`;

/** A new deploy of `tag` (`helm upgrade --wait`). */
export async function helmDeploy(bed: Testbed, ns: string, release: string, tag: string): Promise<void> {
  await helmCli(bed, ns, 'upgrade', release, CHART, '--set-string', `tag=${tag}`, '--wait', '--timeout', '60s');
}

/** Release `release` of the test chart with revisions 1, 2, 3 = tags 1.24, 1.25, 1.27. */
export async function helmReleaseWithHistory(bed: Testbed, ns: string, release: string): Promise<void> {
  await ensureNamespace(bed, ns);
  await helmCli(bed, ns, 'install', release, CHART, '--set-string', `tag=${VERSIONS[0]}`, '--wait', '--timeout', '60s');
  for (const tag of VERSIONS.slice(1)) await helmDeploy(bed, ns, release, tag);
}

/** The release's revisions as `helm history` shows them: [revision, status, description]. */
export async function helmHistory(bed: Testbed, ns: string, release: string): Promise<[number, string, string][]> {
  const h = JSON.parse(await helmCli(bed, ns, 'history', release, '-o', 'json')) as { revision: number; status: string; description: string }[];
  return h.map((x) => [x.revision, x.status, x.description]);
}

/** The image tag of the release's deployed manifest. */
export async function helmTag(bed: Testbed, ns: string, release: string): Promise<string> {
  return /image: "registry\.local\/web:([^"]+)"/.exec(await helmCli(bed, ns, 'get', 'manifest', release))?.[1] ?? '?';
}

const configFile = (tag: string) => configDeploymentYaml(`api:${tag}`);

/** A config repository whose main branch deployed api 1.24, then 1.25, then 1.27 (one commit each). */
export async function configRepoWithHistory(name: string): Promise<{ repo: TestRepo; commits: Record<(typeof VERSIONS)[number], string> }> {
  const repo = await createRepo(name);
  const commits = {} as Record<(typeof VERSIONS)[number], string>;
  for (const tag of VERSIONS) commits[tag] = await repo.commit({ 'apps/api/deployment.yaml': configFile(tag) }, `api ${tag}`);
  return { repo, commits };
}

/** A new deploy of `tag` through Git (on top of whatever the branch has now, rollbacks included). */
export async function commitConfig(repo: TestRepo, tag: string): Promise<string> {
  await repo.git('pull', '--quiet', '--rebase', 'origin', 'main');
  return repo.commit({ 'apps/api/deployment.yaml': configFile(tag) }, `api ${tag}`);
}

/** The api image tag on the remote branch head, and the head commit. */
export async function configState(repo: TestRepo): Promise<{ tag: string; head: string }> {
  const head = (await run('git', ['ls-remote', repo.remote, 'refs/heads/main'])).stdout.split('\t')[0];
  const file = (await run('git', ['-C', repo.remote, 'show', `${head}:apps/api/deployment.yaml`])).stdout;
  return { tag: /image: "api:([^"]+)"/.exec(file)?.[1] ?? '?', head };
}
