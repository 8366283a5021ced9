// A real Kubernetes control plane for tests, with no Docker: etcd, kube-apiserver (token auth, RBAC),
// kube-controller-manager, kube-scheduler and kwok (a fake node whose pods become Running and Ready),
// all built by scripts/provision-k8s.sh. One cluster per test file; namespaces isolate cases.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../helpers/processes.js';
import { setTimeout as delay } from 'node:timers/promises';
import { ROOT } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const BIN = `${ROOT}.tools/bin`;
const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;

export interface Testbed {
  dir: string;
  server: string;
  /** Admin kubeconfig (system:masters). */
  kubeconfig: string;
  /** Writes a kubeconfig for one of the extra users (rearguard-worker, nobody) that authenticate by token. */
  kubeconfigFor(user: 'rearguard-worker' | 'nobody'): Promise<string>;
  /** kubectl as admin; resolves stdout, rejects with stderr. */
  kubectl(args: string[], input?: string): Promise<string>;
  /** Applies the Argo CD and Flux CRDs from .tools/crds (scripts/provision-gitops.sh); no controllers run. */
  installGitopsCrds(): Promise<void>;
  stop(): Promise<void>;
}

function binary(name: string): string {
  const path = process.env[`REARGUARD_${name.toUpperCase().replace(/-/g, '_')}_PATH`] ?? `${BIN}/${name}`;
  if (!existsSync(path)) throw new Error(`${name} not found at ${path}: run \`bash scripts/provision-k8s.sh\` (npm test does)`);
  return path;
}

function kubeconfigYaml(server: string, user: string, token: string): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster: { server: "${server}", insecure-skip-tls-verify: true }
users:
- name: ${user}
  user: { token: "${token}" }
contexts:
- name: testbed
  context: { cluster: testbed, user: ${user} }
current-context: testbed
`;
}

/** Until `probe` holds (a probe that throws is "not yet"); on timeout, the components' last log lines. */
const ready = (what: string, probe: () => Promise<boolean>, logs: () => string, ms = 60_000): Promise<boolean> =>
  waitFor(probe, `testbed: ${what}`, { timeout: ms, interval: 250, ignoreErrors: true, detail: logs });

export async function startTestbed(): Promise<Testbed> {
  for (const b of BINARIES) binary(b);
  const dir = await mkdtemp(join(tmpdir(), 'rearguard-testbed-'));
  const procs: { name: string; child: ChildProcess; log: string }[] = [];
  const logs = () => procs.map((p) => `--- ${p.name} (last lines) ---\n${readFileSync(p.log, 'utf8').split('\n').slice(-15).join('\n')}`).join('\n');
  const start = (name: string, args: string[]) => {
    const log = join(dir, `${name}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(
      binary(
        name === 'controller-manager' ? 'kube-controller-manager' : name === 'scheduler' ? 'kube-scheduler' : name === 'apiserver' ? 'kube-apiserver' : name,
      ),
      args,
      { stdio: ['ignore', fd, fd] },
    );
    procs.push({ name, child, log });
    return child;
  };
  const stop = async () => {
    for (const p of [...procs].reverse()) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGTERM');
        await Promise.race([new Promise((r) => p.child.once('exit', r)), new Promise((r) => setTimeout(r, 5_000))]);
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  const killOnExit = () => procs.forEach((p) => p.child.kill('SIGKILL'));
  process.once('exit', killOnExit);

  try {
    const [etcdPort, peerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    start('etcd', [
      '--data-dir',
      join(dir, 'etcd'),
      '--name',
      'testbed',
      '--listen-client-urls',
      `http://127.0.0.1:${etcdPort}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdPort}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-cluster',
      `testbed=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--log-level',
      'error',
    ]);

    const tokens = { admin: randomBytes(16).toString('hex'), 'rearguard-worker': randomBytes(16).toString('hex'), nobody: randomBytes(16).toString('hex') };
    await writeFile(
      join(dir, 'tokens.csv'),
      `${tokens.admin},admin,1,"system:masters"\n${tokens['rearguard-worker']},rearguard-worker,2\n${tokens.nobody},nobody,3\n`,
    );
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfig, kubeconfigYaml(server, 'admin', tokens.admin));

    start('apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'certs')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(dir, 'sa.key')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
    ]);
    const readyz = async () => (await run('kubectl', ['--kubeconfig', kubeconfig, 'get', '--raw', '/readyz'])).stdout.trim() === 'ok';
    // Usually ready in 10-20 s; on a loaded 2-core machine (tests and builds side by side) it has taken over 90 s.
    await ready('kube-apiserver', readyz, logs, 180_000);

    // Their ports are picked now, not with the others: the apiserver can take a minute to get ready, and a port
    // found free then may be taken by the time they bind it (seen in CI: "bind: address already in use"). A
    // component that still exits at once is started again on another port.
    const startOnFreePort = async (name: string, args: (port: number) => string[], first: number): Promise<void> => {
      let port = first;
      for (let attempt = 1; ; attempt++) {
        const child = start(name, args(port));
        const exited = await Promise.race([new Promise<boolean>((r) => child.once('exit', () => r(true))), delay(3_000).then(() => false)]);
        if (!exited || attempt === 3) return;
        port = await freePort();
      }
    };
    await Promise.all([
      startOnFreePort(
        'controller-manager',
        (port) => [
          `--kubeconfig=${kubeconfig}`,
          '--leader-elect=false',
          '--use-service-account-credentials=false',
          // clusterrole-aggregation fills the built-in admin, edit and view roles, as on a real cluster.
          '--controllers=deployment,replicaset,namespace,garbagecollector,serviceaccount,clusterrole-aggregation',
          '--bind-address=127.0.0.1',
          `--secure-port=${port}`,
          '--concurrent-deployment-syncs=10',
          '--concurrent-replicaset-syncs=10',
        ],
        await freePort(),
      ),
      startOnFreePort(
        'scheduler',
        (port) => [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${port}`],
        await freePort(),
      ),
    ]);
    start('kwok', [
      `--kubeconfig=${kubeconfig}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--manage-nodes-with-label-selector=',
      '--manage-single-node=',
      '--cidr=10.0.0.1/24',
      '--node-ip=10.0.0.1',
      '--server-address=',
    ]);

    const kubectl = async (args: string[], input?: string): Promise<string> => {
      const child = execFile('kubectl', ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 16 << 20 });
      if (input !== undefined) child.stdin!.end(input);
      else child.stdin!.end();
      let out = '';
      let err = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      if (code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${err.trim() || `exit ${code}`}`);
      return out;
    };
    await kubectl(['apply', '-f', '-'], NODE);
    await ready(
      'fake node Ready',
      async () => (await kubectl(['get', 'node', 'kwok-node', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])) === 'True',
      logs,
    );
    // The TaintNodesByCondition admission plugin taints a new node not-ready; the node lifecycle
    // controller, which we do not run, would lift it once kwok reports Ready. Lift it ourselves.
    await kubectl(['taint', 'node', 'kwok-node', 'node.kubernetes.io/not-ready:NoSchedule-']).catch((err: Error) => {
      if (!/not found/.test(err.message)) throw err;
    });
    await ready(
      'default service account',
      async () => (await kubectl(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name'])).includes('default'),
      logs,
    );

    return {
      dir,
      server,
      kubeconfig,
      kubectl,
      async kubeconfigFor(user) {
        const file = join(dir, `${user}.kubeconfig`);
        await writeFile(file, kubeconfigYaml(server, user, tokens[user]));
        return file;
      },
      async installGitopsCrds() {
        const dir = process.env.REARGUARD_CRDS_DIR ?? `${ROOT}.tools/crds`;
        if (!existsSync(dir)) throw new Error(`CRDs not found at ${dir}: run \`bash scripts/provision-gitops.sh crds\` (npm test does)`);
        // The Application CRD is too large for client-side apply's last-applied annotation.
        for (const f of ['argocd-application.yaml', 'argocd-appproject.yaml', 'flux-gitrepository.yaml', 'flux-kustomization.yaml']) {
          await kubectl(['apply', '--server-side', '-f', `${dir}/${f}`]);
        }
        await kubectl([
          'wait',
          '--for=condition=Established',
          '--timeout=60s',
          'crd/applications.argoproj.io',
          'crd/appprojects.argoproj.io',
          'crd/gitrepositories.source.toolkit.fluxcd.io',
          'crd/kustomizations.kustomize.toolkit.fluxcd.io',
        ]);
      },
      stop: async () => {
        process.removeListener('exit', killOnExit);
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

const NODE = `apiVersion: v1
kind: Node
metadata:
  name: kwok-node
  annotations: { kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0" }
  labels: { kubernetes.io/hostname: kwok-node, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok }
spec: {}
status:
  allocatable: { cpu: "32", memory: 256Gi, pods: "110" }
  capacity: { cpu: "32", memory: 256Gi, pods: "110" }
  nodeInfo: { architecture: amd64, operatingSystem: linux, kubeletVersion: fake, kubeProxyVersion: fake }
  phase: Running
`;
