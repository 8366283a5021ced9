// Which clusters the worker can reach: a YAML/JSON file named by REARGUARD_CLUSTERS,
//   clusters: { prod-eu: { kubeconfig: /etc/rearguard/prod-eu.kubeconfig, context: prod } }
// Runbooks name a cluster; credentials stay in the kubeconfig on the worker, never in a runbook,
// workflow history or log.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { friendlyErrors, issueLines } from '../../runbook/issues.js';
import { DNS1123_LABEL } from '../../runbook/names.js';
import { configurationError } from '../errors.js';
import { KubeClient, type ClusterConfig } from './client.js';

const schema = z.strictObject({
  clusters: z.record(
    z.string().regex(DNS1123_LABEL, 'expected a DNS-1123 label'),
    z.strictObject({ kubeconfig: z.string().min(1), context: z.string().min(1).optional() }),
  ),
});

export function loadClusters(file: string | undefined): Record<string, ClusterConfig> {
  if (!file) return {};
  let data: unknown;
  try {
    data = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`REARGUARD_CLUSTERS: cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(data, { error: friendlyErrors });
  if (!parsed.success) throw new Error(`REARGUARD_CLUSTERS (${file}): ${issueLines(parsed.error.issues).join('; ')}`);
  return parsed.data.clusters;
}

export class Clusters {
  private readonly clients = new Map<string, KubeClient>();
  constructor(readonly config: Record<string, ClusterConfig>) {}

  names(): string[] {
    return Object.keys(this.config);
  }

  client(name: string | undefined): KubeClient {
    if (!name)
      throw configurationError(
        `no cluster named: set spec.cluster (or the step's cluster) to one of: ${this.names().join(', ') || 'none configured (REARGUARD_CLUSTERS)'}`,
      );
    const cfg = this.config[name];
    if (!cfg)
      throw configurationError(`cluster ${name} is not configured on this worker (configured: ${this.names().join(', ') || 'none; set REARGUARD_CLUSTERS'})`);
    let client = this.clients.get(name);
    if (!client) this.clients.set(name, (client = KubeClient.fromConfig(name, cfg)));
    return client;
  }
}
