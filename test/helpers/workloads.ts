// Kubernetes objects the end-to-end tests roll back: a blue and a green Deployment behind one Service
// (traffic on green), and an api Deployment.
const deployment = (ns: string, name: string, labels: Record<string, string>, image: string, replicas: number) => {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${ns} }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { ${l} } }
  template: { metadata: { labels: { ${l} } }, spec: { containers: [{ name: ${name.split('-')[0]}, image: "${image}" }] } }
`;
};

export function blueGreenWorkloads(ns: string, o: { webReplicas: number; apiReplicas: number }): string {
  return [
    `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${ns} }\n`,
    deployment(ns, 'web-blue', { app: 'web', track: 'blue' }, 'web:1.0', o.webReplicas),
    deployment(ns, 'web-green', { app: 'web', track: 'green' }, 'web:2.0', o.webReplicas),
    `apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: ${ns} }\nspec: { selector: { app: web, track: green }, ports: [{ port: 80 }] }\n`,
    deployment(ns, 'api', { app: 'api' }, 'api:1.0', o.apiReplicas),
  ].join('---\n');
}
