// What the worker can reach, from a YAML file named by REARGUARD_TARGETS:
//   clusters: { prod-eu: { kubeconfig: /etc/rearguard/prod-eu.kubeconfig, context: prod } }
//   repos:    { payments-config: { url: git@git.example.com:acme/payments-config.git, branch: main, sshKeyPath: ...,
//               protectedBranch: main, protectedTags: [v*] } }
// Runbooks name clusters and repositories; credentials stay on the worker (kubeconfigs, key files,
// environment variables), never in a runbook, workflow history or log.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { friendlyErrors, issueLines } from '../runbook/issues.js';
import { DNS1123_LABEL, ENV_VAR } from '../runbook/names.js';
import { configurationError } from './errors.js';
import { matchPattern } from '../runbook/sshsig.js';
import { KubeClient, preloadKubernetesClient, type ClusterConfig } from './kubernetes/client.js';

const name = z.string().regex(DNS1123_LABEL, 'expected a DNS-1123 label');
/**
 * The environments (names or patterns such as prod-*) whose runbooks may act on a cluster or repository. A
 * runbook declares its environment itself, so this is what binds the label to real systems: a `dev` runbook
 * naming the prod cluster fails preflight. Required on every target when the worker has a catalog.
 */
const environments = z.array(z.string().regex(/^[a-z0-9*]([-a-z0-9*]*[a-z0-9*])?$/, 'expected an environment name or pattern such as prod or prod-*'));
const branchName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'expected a branch name');
const repo = z
  .strictObject({
    /** Any URL git accepts: ssh (git@host:org/repo.git), https, or file:// for local mirrors. */
    url: z
      .string()
      .min(1)
      .refine((u) => !u.startsWith('-'), 'expected a repository URL'),
    branch: branchName.default('main'),
    /**
     * The branch reviewed changes land on: a gitops restore or terraform `toRef` must be reachable from it (or be a
     * protected tag). Defaults to `branch`, filled in at load so a step's own `branch` never widens it.
     */
    protectedBranch: branchName.optional(),
    /** Tag patterns (`*` and `?` within one path segment, e.g. `v*`) whose tags are reviewed releases; none by default. */
    protectedTags: z
      .array(z.string().regex(/^[A-Za-z0-9_.*?][A-Za-z0-9_.*?/+-]*$/, "expected a tag pattern (letters, digits, '._/+-', '*' and '?'), not starting with '-'"))
      .optional(),
    /** Private key for ssh URLs (passed through GIT_SSH_COMMAND, never on a command line). */
    sshKeyPath: z.string().min(1).optional(),
    /** Environment variable holding an HTTPS token (sent as an HTTP header through git's environment config). */
    tokenEnv: z.string().regex(ENV_VAR, 'expected an environment variable name').optional(),
    author: z.strictObject({ name: z.string().min(1), email: z.string().min(3) }).default({ name: 'Rearguard', email: 'rearguard@localhost' }),
    /** `terraform init -backend-config=KEY=VALUE` for configurations in this repository (e.g. a state path or bucket). */
    terraformBackendConfig: z.record(z.string().regex(/^[A-Za-z0-9_]+$/, 'expected a backend setting name'), z.string()).default({}),
    environments: environments.optional(),
  })
  .transform((r) => ({ ...r, protectedBranch: r.protectedBranch ?? r.branch }));
const schema = z.strictObject({
  clusters: z
    .record(name, z.strictObject({ kubeconfig: z.string().min(1), context: z.string().min(1).optional(), environments: environments.optional() }))
    .default({}),
  repos: z.record(name, repo).default({}),
});
/** protectedBranch is always set in a loaded targets file; optional for configurations built in code (tests), where it falls back to branch. */
export type RepoConfig = Omit<z.output<typeof repo>, 'protectedBranch'> & { protectedBranch?: string };
export type Targets = z.output<typeof schema>;

export function loadTargets(file: string | undefined): Targets {
  if (!file) return { clusters: {}, repos: {} };
  let data: unknown;
  try {
    data = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`REARGUARD_TARGETS: cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(data, { error: friendlyErrors });
  if (!parsed.success) throw new Error(`REARGUARD_TARGETS (${file}): ${issueLines(parsed.error.issues).join('; ')}`);
  return parsed.data;
}

export class Repos {
  constructor(readonly config: Record<string, RepoConfig>) {}
  names(): string[] {
    return Object.keys(this.config);
  }
  get(name: string): RepoConfig {
    const cfg = this.config[name];
    if (!cfg)
      throw configurationError(`repository ${name} is not configured on this worker (configured: ${this.names().join(', ') || 'none; set REARGUARD_TARGETS'})`);
    return cfg;
  }
}

export class Clusters {
  private readonly clients = new Map<string, KubeClient>();
  constructor(readonly config: Record<string, ClusterConfig & { environments?: string[] }>) {
    // A worker with clusters will need the Kubernetes client library: loaded soon after start, in the background,
    // so the first rollback does not wait for it; a worker without any never loads it.
    if (Object.keys(config).length > 0) setTimeout(() => void preloadKubernetesClient().catch(() => undefined), 1_000).unref();
  }

  names(): string[] {
    return Object.keys(this.config);
  }

  /** The named cluster's kubeconfig and context, or a clear configuration error. */
  get(name: string | undefined): ClusterConfig & { name: string } {
    if (!name)
      throw configurationError(
        `no cluster named: set spec.cluster (or the step's cluster) to one of: ${this.names().join(', ') || 'none configured (REARGUARD_TARGETS)'}`,
      );
    const cfg = this.config[name];
    if (!cfg)
      throw configurationError(`cluster ${name} is not configured on this worker (configured: ${this.names().join(', ') || 'none; set REARGUARD_TARGETS'})`);
    return { ...cfg, name };
  }

  client(name: string | undefined): KubeClient {
    const cfg = this.get(name);
    let client = this.clients.get(cfg.name);
    if (!client) this.clients.set(cfg.name, (client = KubeClient.fromConfig(cfg.name, cfg)));
    return client;
  }
}

/** Why a runbook of `environment` may not use this target (undefined: it may; no list: any environment, development only). */
export function targetEnvironmentProblem(
  kind: 'cluster' | 'repository',
  name: string,
  envs: readonly string[] | undefined,
  environment: string,
): string | undefined {
  if (envs === undefined || envs.some((p) => matchPattern(environment, p))) return undefined;
  return `${kind} ${name} serves ${envs.length ? `environment(s) ${envs.join(', ')}` : 'no runbook environment'}, not ${environment} (its environments in the targets file): a ${environment} runbook may not act on it`;
}

/** Targets without an `environments` list: a worker with a catalog refuses to start with any (fail closed). */
export function targetsWithoutEnvironments(t: Targets): string[] {
  return [
    ...Object.entries(t.clusters)
      .filter(([, c]) => c.environments === undefined)
      .map(([n]) => `clusters.${n}`),
    ...Object.entries(t.repos)
      .filter(([, r]) => r.environments === undefined)
      .map(([n]) => `repos.${n}`),
  ];
}
