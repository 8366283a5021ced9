// A small JSON client for the Kubernetes API. Objects stay raw JSON end to end: a typed round trip
// could drop pod-template fields newer than the client's models, and a rollback must restore the
// template exactly. @kubernetes/client-node supplies kubeconfig parsing and authentication; it is loaded on
// first use (preloadKubernetesClient), not with the worker: its generated API models are ~75 MB of the
// worker's RSS (issue 14), which a worker that never reaches a cluster does not need.
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/activity';
import { configurationError } from '../errors.js';

export interface ClusterConfig {
  kubeconfig: string;
  context?: string;
}

export type KubeObject = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export type PatchType = 'application/json-patch+json' | 'application/merge-patch+json';

let library: Promise<typeof import('@kubernetes/client-node')> | undefined;
/** Loads @kubernetes/client-node (once); a worker with clusters configured calls it at start, in the background. */
export function preloadKubernetesClient(): Promise<typeof import('@kubernetes/client-node')> {
  library ??= import('@kubernetes/client-node');
  return library;
}

export class KubeClient {
  /** The kubeconfig, read at the first call; a failed read is tried again at the next. */
  private kc: Promise<KubeConfig> | undefined;

  private constructor(
    private readonly cfg: ClusterConfig,
    readonly cluster: string,
  ) {}

  static fromConfig(name: string, cfg: ClusterConfig): KubeClient {
    return new KubeClient(cfg, name);
  }

  /** The kubeconfig and context, or a configuration error naming the cluster. */
  config(): Promise<KubeConfig> {
    const { cfg, cluster: name } = this;
    this.kc ??= preloadKubernetesClient().then(({ KubeConfig }) => {
      const kc = new KubeConfig();
      try {
        kc.loadFromFile(cfg.kubeconfig);
        if (cfg.context) kc.setCurrentContext(cfg.context);
      } catch (err) {
        throw configurationError(
          `cluster ${name}: cannot load kubeconfig ${cfg.kubeconfig}${cfg.context ? ` (context ${cfg.context})` : ''}: ${(err as Error).message}`,
        );
      }
      if (!kc.getCurrentCluster())
        throw configurationError(`cluster ${name}: kubeconfig ${cfg.kubeconfig} has no current cluster${cfg.context ? ` for context ${cfg.context}` : ''}`);
      return kc;
    });
    this.kc.catch(() => (this.kc = undefined));
    return this.kc;
  }

  get(path: string): Promise<KubeObject> {
    return this.call('GET', path);
  }

  patch(path: string, body: unknown, type: PatchType): Promise<KubeObject> {
    return this.call('PATCH', path, body, type);
  }

  async call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<KubeObject> {
    const kc = await this.config();
    const server = kc.getCurrentCluster()!.server;
    const url = new URL(path, server);
    const opts: import('node:https').RequestOptions = { method, headers: { accept: 'application/json' } };
    await kc.applyToHTTPSOptions(opts);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) Object.assign(opts.headers!, { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) });
    const send = url.protocol === 'http:' ? httpRequest : request;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(url, { ...opts, timeout: 30_000 }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: data }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 30s')));
      req.on('error', reject);
      req.end(payload);
    }).catch((err: Error) => {
      throw ApplicationFailure.retryable(`cluster ${this.cluster}: ${method} ${url.pathname}: ${err.message}`, 'KubernetesUnavailable');
    });
    const parsed = text ? (JSON.parse(text) as KubeObject) : {};
    if (status >= 200 && status < 300) return parsed;
    throw apiError(this.cluster, method, url.pathname, status, parsed);
  }
}

/** Kubernetes Status errors as failures the workflow knows how to treat (see NON_RETRYABLE there). */
export function apiError(cluster: string, method: string, path: string, status: number, body: KubeObject): ApplicationFailure {
  const message = typeof body.message === 'string' ? body.message : `HTTP ${status}`;
  const where = `cluster ${cluster}: ${method} ${path}`;
  if (status === 401)
    return ApplicationFailure.nonRetryable(`${where}: unauthorized: the worker's credentials for this cluster were rejected`, 'PermissionDenied');
  if (status === 403) {
    return ApplicationFailure.nonRetryable(
      `${where}: forbidden: ${message} (grant the worker the rearguard role, see deploy/rbac/rearguard-worker.yaml)`,
      'PermissionDenied',
    );
  }
  if (status === 404) return ApplicationFailure.nonRetryable(`${where}: not found: ${message}`, 'NotFound');
  if (status === 409 || status === 429 || status >= 500) return ApplicationFailure.retryable(`${where}: ${message}`, 'KubernetesUnavailable');
  return ApplicationFailure.retryable(`${where}: ${status}: ${message}`, 'KubernetesRejected');
}
