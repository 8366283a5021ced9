// Kubernetes objects the end-to-end tests roll back: a blue and a green Deployment behind one Service
// (traffic on green), and an api Deployment.
import { deploymentYaml, namespaceYaml, serviceYaml } from './fixtures.js';

const deployment = (ns: string, name: string, labels: Record<string, string>, image: string, replicas: number) =>
  deploymentYaml({ namespace: ns, name, labels, image, replicas, container: name.split('-')[0] });

export function blueGreenWorkloads(ns: string, o: { webReplicas: number; apiReplicas: number }): string {
  return [
    namespaceYaml(ns),
    deployment(ns, 'web-blue', { app: 'web', track: 'blue' }, 'web:1.0', o.webReplicas),
    deployment(ns, 'web-green', { app: 'web', track: 'green' }, 'web:2.0', o.webReplicas),
    serviceYaml({ namespace: ns, name: 'web', selector: { app: 'web', track: 'green' } }),
    deployment(ns, 'api', { app: 'api' }, 'api:1.0', o.apiReplicas),
  ].join('---\n');
}
