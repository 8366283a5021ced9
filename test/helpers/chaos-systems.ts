// The systems a chaos run acts on, each with its bad release deployed, and the checks that count what was done
// to them: a composite service (blueGreen, kubernetes, helm, gitops with Argo CD, terraform, webhook) rolled back
// once, and a freeze whose guardrails (Argo CD deny window, Flux suspend, flags) are applied and restored once.
// Every count comes from the system itself: helm history, git log, the terraform state's serial, the Deployment's
// revision, the receiver's Idempotency-Keys, the syncs in the Argo CD Application's history, the audit trail. Argo CD
// is the real application controller and repo server (test/helpers/argocd.ts), which the caller starts.
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KubeClient, type KubeObject } from '../../activities/kubernetes/client.js';
import { run } from '../../activities/process.js';
import type { RollbackStatus, AuditEvent } from '../../runbook/types.js';
import type { Testbed } from '../testbed/cluster.js';
import { guardedObjectsYaml, namespaceYaml } from './fixtures.js';
import { startGitHttpServer } from './git-http.js';
import { createRepo } from './git-repos.js';
import type { Receiver } from './receiver.js';
import { ROOT, toolPath } from './tools.js';
import { blueGreenWorkloads } from './workloads.js';

/** What one system's checks found: problems (a wrong end state) and double applications, by kind. */
export interface Findings {
  problems: string[];
  duplicates: Record<string, number>;
  /** Interrupted work that was completed, by kind (e.g. a helm rollback left pending by a killed worker). */
  resumed?: Record<string, number>;
}

const tfConfig = (v: string) =>
  `terraform {\n  backend "local" {}\n}\nresource "terraform_data" "app" {\n  input = "${v}"\n}\noutput "version" {\n  value = terraform_data.app.output\n}\n`;

async function ok(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input !== undefined ? { input } : {});
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export interface CompositeService {
  service: string;
  runbook: string;
  /** The service's entries of the targets file's `repos`. */
  repos: string;
  /** The config repository's branch head now. */
  configHead(): Promise<string>;
  /** Checks the end state and counts applications (after the run ended). */
  check(status: RollbackStatus | undefined): Promise<Findings>;
  stop(): void;
}

/**
 * A service with its bad release everywhere: traffic on green, the api Deployment on a bad image, helm release
 * `cart` upgraded, a bad commit in its config repository (synced by Argo CD, which must be running: startArgoCd),
 * infrastructure applied at v2. Its
 * runbook (prod, on cluster `testbed`) rolls all of it back and calls a webhook; with `approvers`, one of them must
 * approve first. Used by the chaos run and test/e2e/cli-composite.test.ts.
 */
export async function compositeService(
  bed: Testbed,
  dir: string,
  service: string,
  receiver: Receiver,
  o: { approvers?: string[] } = {},
): Promise<CompositeService> {
  const ns = service;
  const kubectl = bed.kubectl;
  const helm = (...args: string[]) => ok(toolPath('helm'), [...args, '--namespace', ns, '--kubeconfig', bed.kubeconfig]);
  const tf = (cwd: string, ...args: string[]) => ok(toolPath('terraform'), [`-chdir=${cwd}`, ...args]);

  await kubectl(['apply', '-f', '-'], blueGreenWorkloads(ns, { webReplicas: 1, apiReplicas: 1 }));
  for (const d of ['web-blue', 'web-green', 'api']) await kubectl(['rollout', 'status', '-n', ns, `deployment/${d}`, '--timeout=60s']);
  await kubectl(['set', 'image', '-n', ns, 'deployment/api', 'api=api:2.0-bad']);
  await kubectl(['rollout', 'status', '-n', ns, 'deployment/api', '--timeout=60s']);
  await helm('install', 'cart', `${ROOT}test/fixtures/charts/web`, '--wait', '--timeout', '60s');
  await helm('upgrade', 'cart', `${ROOT}test/fixtures/charts/web`, '--set', 'tag=2.0-bad', '--wait', '--timeout', '60s');

  const config = await createRepo(`${service}-config`);
  const settings = (image: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings, namespace: ${ns} }\ndata: { image: "${image}" }\n`;
  const good = await config.commit({ 'app/settings.yaml': settings(`${service}:1.0`) }, `${service} 1.0`);
  const bad = await config.commit({ 'app/settings.yaml': settings(`${service}:2.0-bad`) }, `${service} 2.0`);
  const gitServer = await startGitHttpServer(dirname(config.remote));
  await kubectl(
    ['apply', '-f', '-'],
    `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: ${service}, namespace: argocd }\nspec:\n  project: default\n  source: { repoURL: "${gitServer.url}/${basename(config.remote)}", path: app, targetRevision: main }\n  destination: { server: https://kubernetes.default.svc, namespace: ${ns} }\n`,
  );
  // The bad commit deployed, as a person syncing it would: the Application's history then holds one sync.
  await kubectl([
    'patch',
    'application.argoproj.io',
    service,
    '-n',
    'argocd',
    '--type',
    'merge',
    '-p',
    JSON.stringify({ operation: { initiatedBy: { username: 'dev' }, sync: { revision: bad } } }),
  ]);
  const settingsImage = () => kubectl(['get', 'configmap', 'settings', '-n', ns, '-o', 'jsonpath={.data.image}']).catch(() => '');
  for (let i = 0; (await settingsImage()) !== `${service}:2.0-bad`; i++) {
    if (i > 600) throw new Error(`${service}: Argo CD did not deploy the bad commit within 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const infra = await createRepo(`${service}-infra`);
  await infra.commit({ 'tf/main.tf': tfConfig('v1') }, 'infra v1', 'v1');
  await infra.commit({ 'tf/main.tf': tfConfig('v2') }, 'infra v2', 'v2');
  const state = join(dir, `${service}.tfstate`);
  const deploy = join(dir, `${service}-deploy`);
  await ok('git', ['clone', '--quiet', infra.url, deploy]);
  await tf(join(deploy, 'tf'), 'init', '-no-color', `-backend-config=path=${state}`);
  await tf(join(deploy, 'tf'), 'apply', '-no-color', '-auto-approve');
  // How far one direct apply of v1 moves the serial: applied to a copy of the state, in a clone of its own.
  const twinState = join(dir, `${service}-twin.tfstate`);
  await copyFile(state, twinState);
  const twin = join(dir, `${service}-twin`);
  await ok('git', ['clone', '--quiet', '--branch', 'v1', infra.url, twin]);
  await tf(join(twin, 'tf'), 'init', '-no-color', `-backend-config=path=${twinState}`);
  await tf(join(twin, 'tf'), 'apply', '-no-color', '-auto-approve');
  const serial = async (file: string) => (JSON.parse(await readFile(file, 'utf8')) as { serial: number }).serial;
  const expectedSerial = await serial(twinState);

  const configHead = async () => (await ok('git', ['-C', config.remote, 'rev-parse', 'main'])).trim();
  const runbook = join(dir, `${service}.yaml`);
  await writeFile(
    runbook,
    `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${service}-prod }
spec:
  service: ${service}
  environment: prod
  cluster: testbed
  sla: 15m
${o.approvers ? `  approval: { required: true, approvers: [${o.approvers.join(', ')}], quorum: 1, timeout: 10m }\n` : ''}  steps:
    - { name: traffic, type: blueGreen, namespace: ${ns}, service: web, selector: { track: blue } }
    - { name: api, type: kubernetes, namespace: ${ns}, deployment: api }
    - { name: cart, type: helm, namespace: ${ns}, release: cart }
    - { name: config, type: gitops, repo: ${service}-config, revert: { commit: HEAD }, argocd: { application: ${service} } }
    - { name: infra, type: terraform, repo: ${service}-infra, workingDir: tf, toRef: v1 }
    - { name: announce, type: webhook, url: "${receiver.url}/${service}/announce" }
  verify:
    - { type: kubernetesAvailable, namespace: ${ns}, deployment: api }
`,
  );

  return {
    service,
    runbook,
    repos: `  ${service}-config: { url: "${config.url}", branch: main }\n  ${service}-infra: { url: "${infra.url}", branch: main, terraformBackendConfig: { path: "${state}" } }\n`,
    stop: () => void gitServer.close(),
    configHead,
    async check(status) {
      const problems: string[] = [];
      const expect = (what: string, actual: unknown, wanted: unknown) => {
        if (JSON.stringify(actual) !== JSON.stringify(wanted))
          problems.push(`${service}: ${what} is ${JSON.stringify(actual)}, expected ${JSON.stringify(wanted)}`);
      };
      expect('outcome', status?.outcome, 'succeeded');
      if (status?.failure) problems.push(`${service}: ${status.failure.item ?? status.failure.phase} failed: ${status.failure.error}`);
      expect('traffic', await kubectl(['get', 'service', 'web', '-n', ns, '-o', 'jsonpath={.spec.selector.track}']), 'blue');
      expect('api image', await kubectl(['get', 'deployment', 'api', '-n', ns, '-o', 'jsonpath={.spec.template.spec.containers[0].image}']), 'api:1.0');
      // Revision 1 (1.0), 2 (the bad image), 3 (undone back to 1.0): one more undo would make 4.
      const revision = Number(
        await kubectl(['get', 'deployment', 'api', '-n', ns, '-o', 'jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}']),
      );
      const helmHistory = JSON.parse(await helm('history', 'cart', '-o', 'json')) as { description: string; status: string }[];
      // A rollback revision left pending-rollback was interrupted (its helm killed) and completed by the next one.
      const helmRollbacks = helmHistory.filter((h) => /^Rollback/i.test(h.description) && h.status !== 'pending-rollback').length;
      const helmInterrupted = helmHistory.filter((h) => h.status === 'pending-rollback').length;
      expect('helm release', helmHistory.at(-1)?.status, 'deployed');
      expect('helm image', /image: "([^"]+)"/.exec(await helm('get', 'manifest', 'cart'))?.[1], 'registry.local/web:1.0');
      const commits = (await ok('git', ['-C', config.remote, 'rev-list', `${bad}..main`])).split('\n').filter(Boolean);
      const head = await configHead();
      expect(
        'config tree',
        (await ok('git', ['-C', config.remote, 'rev-parse', `${head}^{tree}`])).trim(),
        (await ok('git', ['-C', config.remote, 'rev-parse', `${good}^{tree}`])).trim(),
      );
      const app = await KubeClient.fromConfig('testbed', { kubeconfig: bed.kubeconfig }).get(
        `/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/${service}`,
      );
      expect('Argo CD synced revision', (app.status as KubeObject | undefined)?.sync?.revision, head);
      expect('config applied by Argo CD', await settingsImage(), `${service}:1.0`);
      // Every sync Argo CD performed, from its own history: the bad commit's, then Rearguard's.
      const syncs = (((app.status as KubeObject | undefined)?.history ?? []) as { revision: string }[]).slice(1).map((h) => h.revision);
      expect('terraform output', (await tf(join(deploy, 'tf'), 'output', '-no-color', '-raw', 'version')).trim(), 'v1');
      const keys = new Set(receiver.requests.filter((r) => r.path === `/${service}/announce`).map((r) => r.key));
      const finalSerial = await serial(state);
      return {
        problems,
        duplicates: {
          'kubernetes undo': Math.max(0, revision - 3),
          'helm rollback': Math.max(0, helmRollbacks - 1),
          'git revert commit': Math.max(0, commits.length - 1),
          'argocd sync': Math.max(0, syncs.length - 1),
          'terraform apply': Math.max(0, finalSerial - expectedSerial),
          'webhook key': Math.max(0, keys.size - 1),
          ...(helmRollbacks === 0 || commits.length === 0 || syncs.length === 0 || keys.size === 0 || revision < 3 || finalSerial < expectedSerial
            ? { missing: 1 }
            : {}),
        },
        resumed: { 'helm rollback left pending': helmInterrupted },
      };
    },
  };
}

export interface GuardedFreeze {
  name: string;
  calendar: string;
  /** Checks that the guardrails are restored exactly as they were, and counts applications in the audit trail. */
  check(audit: AuditEvent[]): Promise<Findings>;
}

const FLAGS = `${JSON.stringify(
  {
    $schema: 'https://flagd.dev/schema/v0/flags.json',
    flags: {
      'new-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on', metadata: { tags: 'feature' } },
      'fix-rounding': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on', metadata: { tags: 'bugfix' } },
    },
  },
  null,
  2,
)}\n`;

/** A freeze window (a calendar's one-off window, in progress) with Argo CD, Flux and flags guardrails. */
export async function guardedFreeze(bed: Testbed, dir: string, name: string, receiver: Receiver): Promise<GuardedFreeze> {
  const ns = name;
  await bed.kubectl(['create', '-f', '-'], `${namespaceYaml(ns)}---\n${guardedObjectsYaml(ns, 'shop')}`);
  const admin = KubeClient.fromConfig('testbed', { kubeconfig: bed.kubeconfig });
  const paths = [
    `/apis/argoproj.io/v1alpha1/namespaces/${ns}/appprojects/shop`,
    `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${ns}/kustomizations/apps`,
    `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${ns}/kustomizations/legacy`,
  ];
  const snapshot = async () =>
    Promise.all(
      paths.map(async (p) => {
        const o: KubeObject = await admin.get(p);
        return { annotations: o.metadata.annotations, labels: o.metadata.labels, spec: o.spec };
      }),
    );
  const before = JSON.stringify(await snapshot());
  const flags = join(dir, `${name}-flags.json`);
  await writeFile(flags, FLAGS);
  const start = new Date(Date.now() - 60_000).toISOString().slice(0, 16);
  const calendar = join(dir, `${name}-calendar.yaml`);
  await writeFile(
    calendar,
    `apiVersion: rearguard/v1
kind: FreezeCalendar
metadata: { name: ${name} }
spec:
  timezone: UTC
  cluster: testbed
  windows:
    - { name: ${name}, start: ${start}, duration: 2h, scope: { environments: [prod], services: [${name}-app] }, reason: chaos freeze }
  notify:
    - { name: release-channel, type: webhook, url: ${receiver.url}/${name}/release }
  guardrails:
    argocd: { namespace: ${ns}, projects: [shop] }
    flux: { kustomizations: [${ns}/apps, ${ns}/legacy] }
    flags: { file: ${flags}, freezeTag: feature }
    notify: [release-channel]
`,
  );
  return {
    name,
    calendar,
    async check(audit) {
      const problems: string[] = [];
      if (JSON.stringify(await snapshot()) !== before) problems.push(`${name}: the Argo CD project or the Kustomizations are not as they were`);
      if ((await readFile(flags, 'utf8')) !== FLAGS) problems.push(`${name}: the flags file is not as it was`);
      const mine = audit.filter((a) => a.workflowId === `freeze:${name}`);
      const count = (action: string) => mine.filter((a) => a.action === action).length;
      const events = new Map<string, Set<string | undefined>>();
      for (const r of receiver.requests.filter((r) => r.path === `/${name}/release`)) {
        const event = (JSON.parse(r.body) as { event: string }).event;
        events.set(event, (events.get(event) ?? new Set()).add(r.key));
      }
      for (const [action, n] of [
        ['freeze.guardrails-applied', count('freeze.guardrails-applied')],
        ['freeze.guardrails-restored', count('freeze.guardrails-restored')],
        ['freeze.lifted', count('freeze.lifted')],
      ] as const) {
        if (n === 0) problems.push(`${name}: no ${action} in the audit trail`);
      }
      for (const event of ['freeze-started', 'freeze-lifted']) if (!events.has(event)) problems.push(`${name}: the release channel never heard ${event}`);
      return {
        problems,
        duplicates: {
          'guardrails applied': Math.max(0, count('freeze.guardrails-applied') - 1),
          'guardrails restored': Math.max(0, count('freeze.guardrails-restored') - 1),
          'freeze notification': [...events.values()].reduce((n, keys) => n + Math.max(0, keys.size - 1), 0),
        },
      };
    },
  };
}
