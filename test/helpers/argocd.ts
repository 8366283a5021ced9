// Argo CD's real application controller and repo server on the testbed (built by scripts/provision-gitops.sh argocd),
// with Redis from Debian, as a cluster would run them minus the API server and UI: the controller reads the admin
// kubeconfig (ARGOCD_FAKE_IN_CLUSTER makes https://kubernetes.default.svc that cluster), talks to the repo server in
// plaintext on loopback, resyncs every 10 s and resolves a branch to its commit anew after 2 s (instead of 3 min): a
// pushed commit reaches an auto-synced Application within seconds.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Testbed } from '../testbed/cluster.js';
import { daemons } from './daemons.js';
import { freePort } from './processes.js';
import { ROOT } from './tools.js';
import { waitFor } from './wait.js';

export interface ArgoCd {
  namespace: string;
  logs(): string;
  stop(): Promise<void>;
}

const BIN = `${ROOT}.tools/bin`;

/** Argo CD's binaries from .tools/bin; redis-server from PATH (Debian's, or any the provisioning found there). */
function binary(name: string): string {
  const dirs = name === 'redis-server' ? (process.env.PATH ?? '').split(':').filter(Boolean) : [BIN];
  const path = dirs.map((d) => join(d, name)).find((p) => existsSync(p));
  if (!path) throw new Error(`${name} not found in ${dirs.join(':')}: run \`bash scripts/provision-gitops.sh argocd\` (npm test does)`);
  return path;
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => (s.end(), resolve(true)));
    s.on('error', () => resolve(false));
  });

export async function startArgoCd(bed: Testbed, namespace = 'argocd'): Promise<ArgoCd> {
  // Every binary found before anything starts: a missing one must not leave the others running.
  const bins = Object.fromEntries(['redis-server', 'argocd-repo-server', 'argocd-application-controller'].map((n) => [n, binary(n)]));
  await bed.installGitopsCrds();
  await bed.kubectl(['create', 'namespace', namespace]).catch(() => undefined);
  // The controller's settings: argocd-cm must exist (found by its part-of label) before it starts.
  await bed.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: argocd-cm, namespace: ${namespace}, labels: { app.kubernetes.io/part-of: argocd } }\n`,
  );
  // The default project, which Argo CD's API server creates on a real installation (it does not run here).
  await bed.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: { name: default, namespace: ${namespace} }\nspec: { sourceRepos: ["*"], destinations: [{ server: "*", namespace: "*" }], clusterResourceWhitelist: [{ group: "*", kind: "*" }] }\n`,
  );
  const dir = await mkdtemp(join(tmpdir(), 'rearguard-argocd-'));
  for (const d of ['redis', 'repo', 'repo/tmp', 'controller']) await mkdir(join(dir, d), { recursive: true });
  const procs = daemons();
  const start = (name: string, args: string[], cwd: string, env: Record<string, string>) =>
    procs.start(name, bins[name], args, { cwd, env: { PATH: `${BIN}:${process.env.PATH}`, HOME: cwd, ...env } });
  const [redis, repo, repoMetrics, metrics] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  start('redis-server', ['--bind', '127.0.0.1', '--port', String(redis), '--save', '', '--appendonly', 'no'], join(dir, 'redis'), {});
  start(
    'argocd-repo-server',
    ['--address', '127.0.0.1', '--port', String(repo), '--metrics-address', '127.0.0.1', '--metrics-port', String(repoMetrics)].concat([
      '--disable-tls',
      '--client-ca-path=',
      '--redis',
      `127.0.0.1:${redis}`,
      '--logformat',
      'text',
      '--revision-cache-expiration',
      '2s',
    ]),
    join(dir, 'repo'),
    { TMPDIR: join(dir, 'repo/tmp'), ARGOCD_GPG_ENABLED: 'false', ARGOCD_ASK_PASS_SOCK: join(dir, 'repo/askpass.sock') },
  );
  start(
    'argocd-application-controller',
    ['--namespace', namespace, '--redis', `127.0.0.1:${redis}`, '--repo-server', `127.0.0.1:${repo}`, '--repo-server-plaintext'].concat([
      '--metrics-port',
      String(metrics),
      '--app-resync',
      '10',
      '--app-resync-jitter',
      '0',
      '--logformat',
      'text',
    ]),
    join(dir, 'controller'),
    { KUBECONFIG: bed.kubeconfig, ARGOCD_FAKE_IN_CLUSTER: 'true', TMPDIR: join(dir, 'controller') },
  );
  const stop = async () => {
    await procs.stop();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    for (const [what, port] of [
      ['redis', redis],
      ['repo server', repo],
      ['application controller metrics', metrics],
    ] as const)
      await waitFor(() => listening(port), `argocd: ${what} on :${port}`, { timeout: 60_000, detail: () => procs.logs().slice(-4000) });
  } catch (err) {
    await stop();
    throw err;
  }
  return { namespace, logs: procs.logs, stop };
}
