// An Argo CD stand-in for the chaos run only (test/helpers/chaos-systems.ts), which counts the syncs it performs while
// servers and workers are killed around it; every other GitOps test runs the real controllers (test/helpers/argocd.ts,
// test/helpers/flux.ts). It reacts to what Rearguard asks of an Application and reports status as Argo CD would.
import type { KubeClient, KubeObject } from '../../activities/kubernetes/client.js';

/**
 * Plays Argo CD's application controller: performs a requested sync operation, reports Synced/Healthy. `onSync`
 * hears each operation it performs (the chaos test counts them).
 */
export function fakeArgo(
  kube: KubeClient,
  ns: string,
  name: string,
  outcome: 'Succeeded' | 'Failed' = 'Succeeded',
  onSync?: (revision: string) => void,
): () => void {
  let stopped = false;
  const path = `/apis/argoproj.io/v1alpha1/namespaces/${ns}/applications/${name}`;
  void (async () => {
    while (!stopped) {
      const app = await kube.get(path).catch(() => undefined);
      const revision = (app?.operation as KubeObject | undefined)?.sync?.revision as string | undefined;
      if (revision) {
        onSync?.(revision);
        const ok = outcome === 'Succeeded';
        await kube.patch(
          path,
          {
            operation: null,
            status: {
              sync: { status: ok ? 'Synced' : 'OutOfSync', revision: ok ? revision : app!.status?.sync?.revision },
              health: { status: ok ? 'Healthy' : 'Degraded' },
              operationState: {
                startedAt: new Date().toISOString(),
                finishedAt: new Date().toISOString(),
                phase: outcome,
                message: ok ? 'successfully synced' : 'one or more objects failed to apply',
                syncResult: { revision },
                operation: app!.operation,
              },
            },
          },
          'application/merge-patch+json',
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return () => (stopped = true);
}
