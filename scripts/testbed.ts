// `npm run testbed`: the test cluster, by hand. Prints the kubeconfig; Ctrl-C tears it down.
import { startTestbed } from '../test/testbed/cluster.js';

const t0 = performance.now();
const bed = await startTestbed();
console.log(`Testbed ready in ${((performance.now() - t0) / 1000).toFixed(1)} s.
  kubeconfig: ${bed.kubeconfig}
  try:        kubectl --kubeconfig ${bed.kubeconfig} get nodes
              kubectl --kubeconfig ${bed.kubeconfig} create deployment web --image=nginx:1.27 --replicas=3
Ctrl-C stops it (and deletes its state).`);
const shutdown = () => {
  void bed.stop().then(() => process.exit(0));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
setInterval(() => undefined, 1 << 30);
