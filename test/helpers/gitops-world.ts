// What the GitOps end-to-end tests share (test/e2e/gitops-argocd.test.ts, gitops-flux.test.ts): the dev server, the
// testbed, config repositories served over smart HTTP to the controllers (the worker pushes to the same bare
// repository by its path), a worker whose targets file names every repository made so far, and readers of the
// cluster and the audit file. The controllers themselves are started by each test file.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import type { KubeObject } from '../../activities/kubernetes/client.js';
import type { AuditEvent } from '../../runbook/types.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';
import { deploymentYaml, namespaceYaml } from './fixtures.js';
import { startGitHttpServer, type GitHttpServer } from './git-http.js';
import { createRepo, type TestRepo } from './git-repos.js';
import { rearguard, startWorker, type WorkerProcess } from './processes.js';
import { createDevServerEnv } from './temporal.js';

export interface GitopsWorld {
  env: TestWorkflowEnvironment;
  bed: Testbed;
  dir: string;
  /** The CLI's environment (address, task queue, audit file). */
  e: Record<string, string>;
  /** A config repository holding `files` as its first commit, and the URL the controllers read it at. */
  configRepo(service: string, files: Record<string, string>): Promise<{ repo: TestRepo; first: string; url: string }>;
  /** Stops the worker gracefully and starts one whose targets name every repository made so far. */
  restartWorker(): Promise<void>;
  /** SIGKILLs the worker's process group (git too) and starts another on the same settings. */
  killWorker(): Promise<void>;
  /**
   * Applies a calendar `name` whose one window `window` (prod, two hours) began a minute ago, with `guardrails` (YAML
   * flow mappings, e.g. `flux: { kustomizations: [...] }`) on the testbed; throws if the CLI refuses it.
   */
  freezeNow(name: string, window: string, reason: string, guardrails: string): Promise<void>;
  get(args: string[]): Promise<KubeObject>;
  /** The image of Deployment `api` in `ns`, if there is one. */
  imageOf(ns: string): Promise<string | undefined>;
  auditOf(workflowId: string): Promise<AuditEvent[]>;
  close(): Promise<void>;
}

/** The files of a service's config: its namespace and a Deployment `api` on `image`, under `<ns>/`. */
export const appFiles = (ns: string, image: string): Record<string, string> => ({
  [`${ns}/namespace.yaml`]: namespaceYaml(ns),
  [`${ns}/api.yaml`]: deploymentYaml({ namespace: ns, name: 'api', image }),
});

/** A rollback runbook of one gitops step reverting `revert` in `<service>-config`, then syncing with `sync`. */
export const revertRunbook = (service: string, revert: string, sync: string): string => `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${service}-prod }
spec:
  service: ${service}
  environment: prod
  cluster: testbed
  sla: 5m
  steps:
    - { name: revert, type: gitops, repo: ${service}-config, revert: { commit: ${revert} }, ${sync} }
`;

export async function startGitopsWorld(prefix: string): Promise<GitopsWorld> {
  // One after the other: a testbed that fails to start must not leave a dev server behind.
  const dir = await mkdtemp(join(tmpdir(), `rearguard-${prefix}-e2e-`));
  const env = await createDevServerEnv();
  const bed = await startTestbed().catch(async (err: unknown) => {
    await env.teardown();
    throw err;
  });
  const e = { TEMPORAL_ADDRESS: env.address, REARGUARD_TASK_QUEUE: `${prefix}-${randomUUID()}`, REARGUARD_AUDIT_FILE: join(dir, 'audit.jsonl') };
  const repos: TestRepo[] = [];
  const servers: GitHttpServer[] = [];
  let worker: WorkerProcess | undefined;
  let workerEnv: Record<string, string> = {};
  const get = async (args: string[]): Promise<KubeObject> => JSON.parse(await bed.kubectl(['get', ...args, '-o', 'json'])) as KubeObject;
  return {
    env,
    bed,
    dir,
    e,
    async configRepo(service, files) {
      const repo = await createRepo(`${service}-config`);
      repos.push(repo);
      const first = await repo.commit(files, `${service} first`);
      const server = await startGitHttpServer(dirname(repo.remote));
      servers.push(server);
      return { repo, first, url: `${server.url}/${basename(repo.remote)}` };
    },
    async restartWorker() {
      // A graceful stop hands the old worker's sticky workflows back at once: the next command's Queries (the gate
      // registry's, read by `freeze calendar apply`) are not left waiting for a dead worker.
      await worker?.stop('SIGTERM');
      const targets = join(dir, 'targets.yaml');
      const entries = repos.map((r) => `  ${basename(r.remote, '.git')}: { url: "${r.url}", branch: main }\n`).join('');
      await writeFile(targets, `clusters:\n  testbed: { kubeconfig: ${bed.kubeconfig} }\nrepos:\n${entries}`);
      workerEnv = { ...e, REARGUARD_TARGETS: targets, REARGUARD_METRICS_PORT: '0', REARGUARD_RUNTIME_METRICS_PORT: '0' };
      worker = await startWorker(workerEnv, { group: true });
    },
    async killWorker() {
      await worker?.stop('SIGKILL');
      worker = await startWorker(workerEnv, { group: true });
    },
    async freezeNow(name, window, reason, guardrails) {
      const tz = 'Europe/Paris';
      const start = DateTime.now().minus({ minutes: 1 }).setZone(tz).toFormat("yyyy-LL-dd'T'HH:mm");
      const file = join(dir, `${name}.yaml`);
      await writeFile(
        file,
        `apiVersion: rearguard/v1\nkind: FreezeCalendar\nmetadata: { name: ${name} }\nspec:\n  timezone: ${tz}\n  cluster: testbed\n  windows:\n` +
          `    - { name: ${window}, start: ${start}, duration: 2h, scope: { environments: [prod] }, reason: ${reason} }\n  guardrails:\n    ${guardrails}\n`,
      );
      const r = await rearguard(['freeze', 'calendar', 'apply', file, '--as', 'rm-ann'], e);
      if (r.code !== 0) throw new Error(`freeze calendar apply ${name}: exit ${r.code}: ${r.stderr}`);
    },
    get,
    async imageOf(ns) {
      const d = await get(['deployment', 'api', '-n', ns]).catch(() => undefined);
      return (d?.spec?.template?.spec?.containers as { image: string }[] | undefined)?.[0]?.image;
    },
    async auditOf(workflowId) {
      return (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AuditEvent)
        .filter((a) => a.workflowId === workflowId);
    },
    async close() {
      await worker?.stop('SIGKILL');
      await Promise.all(servers.map((s) => s.close()));
      await Promise.all([env.teardown(), bed.stop()]);
    },
  };
}
