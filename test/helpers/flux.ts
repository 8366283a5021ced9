// Flux's real source-controller, kustomize-controller and helm-controller on the testbed (built by
// scripts/provision-gitops.sh flux),
// as a cluster would run them, with the admin kubeconfig: every source kind's CRD served (the source-controller
// exits at start if one is missing), the artifact server on loopback, leader election off, each on its own ports.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Testbed } from '../testbed/cluster.js';
import { daemons } from './daemons.js';
import { freePort } from './processes.js';
import { ROOT } from './tools.js';
import { waitFor } from './wait.js';

export interface Flux {
  /** The controllers' combined log (console encoding), or one controller's, for failure messages. */
  logs(name?: 'source-controller' | 'kustomize-controller' | 'helm-controller'): string;
  stop(): Promise<void>;
}

const CRDS = ['flux-helmrelease.yaml', 'flux-bucket.yaml', 'flux-helmchart.yaml', 'flux-helmrepository.yaml', 'flux-ocirepository.yaml'];

function binary(name: string): string {
  const path = `${ROOT}.tools/bin/${name}`;
  if (!existsSync(path)) throw new Error(`${name} not found at ${path}: run \`bash scripts/provision-gitops.sh flux\` (npm test does)`);
  return path;
}

export async function startFlux(bed: Testbed): Promise<Flux> {
  const bins = {
    'source-controller': binary('source-controller'),
    'kustomize-controller': binary('kustomize-controller'),
    'helm-controller': binary('helm-controller'),
  };
  await bed.installGitopsCrds();
  const crds = process.env.REARGUARD_CRDS_DIR ?? `${ROOT}.tools/crds`;
  for (const f of CRDS) await bed.kubectl(['apply', '--server-side', '-f', `${crds}/${f}`]);
  await bed.kubectl(['create', 'namespace', 'flux-system']).catch(() => undefined);
  const storage = await mkdtemp(join(tmpdir(), 'rearguard-flux-'));
  const procs = daemons();
  const start = (name: string, args: string[]) =>
    procs.start(name, bins[name as keyof typeof bins], ['--enable-leader-election=false', '--log-encoding=console', '--log-level=info', ...args], {
      // controller-runtime reads the kubeconfig from KUBECONFIG (Flux does not parse its --kubeconfig flag).
      env: { PATH: process.env.PATH, KUBECONFIG: bed.kubeconfig, RUNTIME_NAMESPACE: 'flux-system' },
    });
  const [sm, sh, artifacts, km, kh, hm, hh] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  start('source-controller', [
    `--metrics-addr=127.0.0.1:${sm}`,
    `--health-addr=127.0.0.1:${sh}`,
    `--storage-path=${storage}`,
    `--storage-addr=127.0.0.1:${artifacts}`,
    // The URL written into each artifact, from which kustomize-controller downloads it.
    `--storage-adv-addr=127.0.0.1:${artifacts}`,
  ]);
  start('kustomize-controller', [`--metrics-addr=127.0.0.1:${km}`, `--health-addr=127.0.0.1:${kh}`]);
  // helm-controller downloads each chart from the source-controller's artifact server, and installs it with the
  // admin kubeconfig (the release's Secrets in the target namespace, as helm does).
  start('helm-controller', [`--metrics-addr=127.0.0.1:${hm}`, `--health-addr=127.0.0.1:${hh}`]);
  const stop = async () => {
    await procs.stop();
    await rm(storage, { recursive: true, force: true });
  };
  try {
    for (const port of [sh, kh, hh])
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, `flux controller ready on :${port}`, {
        timeout: 60_000,
        ignoreErrors: true,
        detail: () => procs.logs(port === hh ? 'helm-controller' : port === kh ? 'kustomize-controller' : 'source-controller').slice(-4000),
      });
  } catch (err) {
    await stop();
    throw err;
  }
  return { logs: procs.logs, stop };
}
