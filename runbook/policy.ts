// The Policy document (README, "Policy: permissions" and "Egress policy"): what an operator allows on this
// installation. Its permissions (`spec.environments`, `spec.groups`: who may act where, decided by
// runbook/permissions.ts) and its egress rules: which worker environment variables (secrets) runbooks may
// reference and which hosts each may be sent to, and which hosts literal URLs may reach. Pure: the CLI checks a
// runbook against it statically (`runbook validate --policy`), the worker applies the same rules at run time
// (activities/egress.ts; the rollback workflow for the permissions).
import { z } from 'zod';
import { formatPath, friendlyErrors, issueLines, type PathSegment } from './issues.js';
import { parseYaml, readDocumentFile, type Loaded } from './load.js';
import { ACTOR, DNS1123_LABEL, DNS1123_SUBDOMAIN, ENV_VAR, LABEL_HINT, SUBDOMAIN_HINT } from './names.js';
import type { Runbook } from './schema.js';

const HOST_HINT = 'expected a host name, an IP address or *. followed by a domain (no scheme, port or path)';
const DNS_NAME = /^[a-z0-9_]([-a-z0-9_]*[a-z0-9_])?(\.[a-z0-9_]([-a-z0-9_]*[a-z0-9_])?)*$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** A host pattern in canonical form: lowercase, no trailing dot, IPv6 without brackets as WHATWG URL writes it. */
export function canonicalHostPattern(text: string): string | undefined {
  const p = text.trim().toLowerCase().replace(/\.$/, '');
  if (p.startsWith('*.')) {
    const domain = p.slice(2);
    return DNS_NAME.test(domain) && domain.length <= 253 && !IPV4.test(domain) ? `*.${domain}` : undefined;
  }
  const v6 = p.replace(/^\[(.*)\]$/, '$1');
  if (v6.includes(':')) {
    if (parseIPv6(v6) === undefined) return undefined;
    return new URL(`http://[${v6}]/`).hostname.slice(1, -1);
  }
  // As the URL parser reads it (so 010.0.0.1 is 8.0.0.1 in the pattern too, as in a URL).
  if (IPV4.test(p)) return parseIPv4(p) && URL.canParse(`http://${p}/`) ? new URL(`http://${p}/`).hostname : undefined;
  return DNS_NAME.test(p) && p.length <= 253 ? p : undefined;
}

const hostPattern = z.string().transform((text, ctx) => {
  const canonical = canonicalHostPattern(text);
  if (canonical !== undefined) return canonical;
  ctx.addIssue({ code: 'custom', message: `${HOST_HINT}, got ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)}` });
  return z.NEVER;
});
const envVar = z.string().regex(ENV_VAR, 'expected an environment variable name such as SLACK_WEBHOOK_URL');
const envPattern = z.string().regex(/^[a-z0-9*]([-a-z0-9*]*[a-z0-9*])?$/, 'expected an environment name or pattern such as dev or dev-*');

export const egressSecret = z.strictObject({
  /** The worker environment variable runbooks may name (urlEnv, headersFromEnv, webhookUrlEnv). */
  env: envVar,
  /** Where its value may be sent: the request's host must match one of these. */
  hosts: z.array(hostPattern).min(1, 'expected at least one host the secret may be sent to'),
});

export const egressSpec = z
  .strictObject({
    secrets: z.array(egressSecret).default([]),
    /** Hosts literal URLs (and requests without secrets) may reach. */
    hosts: z.array(hostPattern).default([]),
  })
  .superRefine((e, ctx) => {
    const seen = new Map<string, number>();
    e.secrets.forEach((s, i) => {
      const first = seen.get(s.env);
      if (first !== undefined) ctx.addIssue({ code: 'custom', message: `${s.env} is listed twice (also at secrets[${first}])`, path: ['secrets', i, 'env'] });
      else seen.set(s.env, i);
    });
  });

/** Who may act: people by name, or `group:NAME` (spec.groups). */
const who = z
  .array(z.string().regex(/^(group:[a-z0-9]([-a-z0-9]*[a-z0-9])?|[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127})$/, 'expected a user name such as alice, or group:NAME'))
  .min(1, 'expected at least one person or group');

/**
 * The permissions of the environments a rule matches (runbook/permissions.ts decides with them). An action a
 * rule does not name is not limited by that rule; an action no matching rule names is allowed to nobody.
 */
export const environmentRule = z.strictObject({
  /** Environment names or patterns (`prod`, `prod-*`, `*`). */
  match: z.union([envPattern.transform((p) => [p]), z.array(envPattern).min(1)]),
  /** Start a rollback (people, CI bots, `alertmanager` for the alert intake, `slo-guard:*` is not a person). */
  trigger: who.optional(),
  /** Approve or reject a rollback, at least `quorum` of them; a runbook may ask for more, never for less. */
  approve: z.strictObject({ by: who, quorum: z.number().int().min(1).max(100).default(1) }).optional(),
  cancel: who.optional(),
  /** Start, extend and lift freezes. */
  freeze: who.optional(),
  /** Approve or reject freeze exceptions. */
  exceptions: who.optional(),
  /** Start, approve, advance and abort gradual unfreezes. */
  unfreeze: who.optional(),
  /** Pause and resume SLO guards. */
  guards: who.optional(),
  /** Force drills outside staging or of runbooks that need approval. */
  drills: who.optional(),
});

export const policySchema = z
  .strictObject({
    apiVersion: z.literal('rearguard/v1', { error: 'expected rearguard/v1' }),
    kind: z.literal('Policy', { error: 'expected Policy' }),
    metadata: z.strictObject({
      name: z.string().max(253, SUBDOMAIN_HINT).regex(DNS1123_SUBDOMAIN, SUBDOMAIN_HINT),
      description: z.string().optional(),
    }),
    spec: z.strictObject({
      /** Environment patterns where local runbook files are accepted. */
      localRunbooks: z.array(envPattern).default([]),
      /** Named groups of people, for the per-environment permissions. */
      groups: z
        .record(z.string(), z.array(z.string().regex(ACTOR, 'expected a user name such as alice')))
        .superRefine((groups, ctx) => {
          for (const name of Object.keys(groups))
            if (name.length > 63 || !DNS1123_LABEL.test(name)) ctx.addIssue({ code: 'custom', message: `group name: ${LABEL_HINT}`, path: [name] });
        })
        .default({}),
      /** Per-environment permissions; every rule matching an environment applies (the strictest wins). */
      environments: z.array(environmentRule).default([]),
      egress: egressSpec.default({ secrets: [], hosts: [] }),
    }),
  })
  .superRefine((p, ctx) => {
    // A group a rule names must exist: a typo would otherwise silently allow nobody (or, worse, be fixed by
    // someone adding a group of that name later without review of the rules that use it).
    p.spec.environments.forEach((rule, i) => {
      for (const [key, value] of Object.entries(rule)) {
        const names = key === 'approve' ? (value as { by: string[] }).by : key === 'match' ? [] : (value as string[]);
        names.forEach((n, j) => {
          const group = n.startsWith('group:') ? n.slice(6) : undefined;
          if (group !== undefined && !(group in p.spec.groups))
            ctx.addIssue({
              code: 'custom',
              message: `no group ${group} in spec.groups`,
              path: ['spec', 'environments', i, key, ...(key === 'approve' ? ['by'] : []), j],
            });
        });
      }
    });
  });

export type Policy = z.output<typeof policySchema>;
export type EgressSecret = z.output<typeof egressSecret>;
export type EnvironmentRule = z.output<typeof environmentRule>;

export function validatePolicy(data: unknown): Loaded<Policy> {
  const parsed = policySchema.safeParse(data, { error: friendlyErrors });
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problems: issueLines(parsed.error.issues) };
}

export function parsePolicy(text: string): Loaded<Policy> {
  const yaml = parseYaml(text);
  return yaml.ok ? validatePolicy(yaml.value) : yaml;
}

export async function loadPolicy(file: string): Promise<Loaded<Policy>> {
  const read = await readDocumentFile(file, 'policy');
  return read.ok ? parsePolicy(read.text) : read;
}

// --- host matching ----------------------------------------------------------------------------------

/** A URL's host as policies name it (lowercase, no trailing dot, IPv6 without brackets), or undefined. */
export function urlHost(url: string): string | undefined {
  if (!URL.canParse(url)) return undefined;
  const host = new URL(url).hostname.toLowerCase().replace(/\.$/, '');
  return host.replace(/^\[(.*)\]$/, '$1') || undefined;
}

/** Exact names and IPs match themselves; `*.example.com` matches any name under example.com (one or more labels), not example.com itself. */
export function hostMatches(patterns: readonly string[], host: string): boolean {
  return patterns.some((p) => (p.startsWith('*.') ? host.endsWith(p.slice(1)) && host.length > p.length - 1 : p === host));
}

export interface EgressRequest {
  /** The destination host (urlHost). */
  host: string;
  /** The URL is written in the runbook (not read from an environment variable). */
  literal: boolean;
  /** Environment variables whose values the request carries (urlEnv, headersFromEnv). */
  secrets: readonly string[];
}

/**
 * Why the policy refuses a request, or undefined: every secret must be listed and allow the host; a literal
 * URL's host (and any request carrying no secret) must be in spec.egress.hosts.
 */
export function egressRefusals(policy: Policy, req: EgressRequest): string[] {
  const out: string[] = [];
  for (const name of new Set(req.secrets)) {
    const entry = policy.spec.egress.secrets.find((s) => s.env === name);
    if (!entry) out.push(`environment variable ${name} is not listed in the policy's spec.egress.secrets`);
    else if (!hostMatches(entry.hosts, req.host))
      out.push(`environment variable ${name} may not be sent to ${req.host} (the policy allows ${entry.hosts.join(', ')})`);
  }
  if ((req.literal || req.secrets.length === 0) && !hostMatches(policy.spec.egress.hosts, req.host))
    out.push(`host ${req.host} is not in the policy's spec.egress.hosts`);
  return out;
}

/**
 * Every outbound request of a runbook the policy would refuse, as `path: message` lines. A URL held in an
 * environment variable (urlEnv) is only known on the worker: here its name must be listed; the worker checks
 * the host it holds when the request is made.
 */
export function egressProblems(runbook: Runbook, policy: Policy): string[] {
  const problems: string[] = [];
  const at = (path: PathSegment[], message: string) => problems.push(`${formatPath(path)}: ${message}`);
  const listed = (name: string) => policy.spec.egress.secrets.find((s) => s.env === name);
  /** One request: a literal url or a urlEnv, and secrets in headers. */
  const request = (base: PathSegment[], t: { url?: string; urlEnv?: string }, headers: Record<string, string> = {}) => {
    if (t.urlEnv !== undefined && !listed(t.urlEnv))
      at([...base, 'urlEnv'], `environment variable ${t.urlEnv} is not listed in the policy's spec.egress.secrets`);
    const host = t.url !== undefined ? urlHost(t.url) : undefined;
    if (host !== undefined && !hostMatches(policy.spec.egress.hosts, host)) at([...base, 'url'], `host ${host} is not in the policy's spec.egress.hosts`);
    for (const [header, name] of Object.entries(headers)) {
      const entry = listed(name);
      if (!entry) at([...base, 'headersFromEnv', header], `environment variable ${name} is not listed in the policy's spec.egress.secrets`);
      else if (host !== undefined && !hostMatches(entry.hosts, host))
        at([...base, 'headersFromEnv', header], `environment variable ${name} may not be sent to ${host} (the policy allows ${entry.hosts.join(', ')})`);
    }
  };
  runbook.spec.steps.forEach((s, i) => {
    if (s.type === 'webhook') request(['spec', 'steps', i], s, s.headersFromEnv);
  });
  runbook.spec.verify.forEach((c, i) => {
    if (c.type === 'http') request(['spec', 'verify', i], c);
  });
  runbook.spec.notify.forEach((n, i) => request(['spec', 'notify', i], n));
  const health = runbook.spec.slo?.health?.http;
  if (health) request(['spec', 'slo', 'health', 'http'], health);
  return problems;
}

// --- addresses never reachable ------------------------------------------------------------------------

function parseIPv4(text: string): number[] | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((n) => n <= 255) ? parts : undefined;
}

/** Eight 16-bit groups, or undefined for anything that is not an IPv6 address (an IPv4 tail is accepted). */
function parseIPv6(text: string): number[] | undefined {
  let s = text;
  const tail: number[] = [];
  const dotted = /:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(s);
  if (dotted) {
    const v4 = parseIPv4(dotted[1]);
    if (!v4) return undefined;
    tail.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    // Keep the colon before the IPv4 tail only when it ends a '::'.
    const prefix = s.slice(0, dotted.index + 1);
    s = prefix.endsWith('::') ? prefix : prefix.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const group = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = group(halves[0]);
  const rest = halves.length === 2 ? group(halves[1]) : [];
  if (!head || !rest) return undefined;
  const known = head.length + rest.length + tail.length;
  if (halves.length === 1) return known === 8 ? [...head, ...tail] : undefined;
  if (known > 7) return undefined;
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail];
}

function ipv4Reason(a: number[]): string | undefined {
  const ip = a.join('.');
  if (ip === '169.254.169.254') return 'the cloud instance metadata address 169.254.169.254';
  if (ip === '100.100.100.200') return 'the cloud instance metadata address 100.100.100.200';
  if (a[0] === 169 && a[1] === 254) return 'a link-local address (169.254.0.0/16)';
  return undefined;
}

/**
 * Why Rearguard never connects to this IP address (cloud metadata services, link-local networks, and their
 * IPv4-mapped IPv6 forms), or undefined. Anything that is not an IP address is undefined too.
 */
export function isForbiddenAddress(ip: string): string | undefined {
  const text = ip
    .trim()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/%.*$/, '')
    .toLowerCase();
  const v4 = parseIPv4(text);
  if (v4) return ipv4Reason(v4);
  const g = parseIPv6(text);
  if (!g) return undefined;
  const embedded = [g[6] >> 8, g[6] & 0xff, g[7] >> 8, g[7] & 0xff];
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (translated), 64:ff9b::a.b.c.d (NAT64), ::a.b.c.d (compatible)
  const form =
    zeros(5) && g[5] === 0xffff
      ? 'IPv4-mapped'
      : zeros(4) && g[4] === 0xffff && g[5] === 0
        ? 'IPv4-translated'
        : g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)
          ? 'NAT64'
          : zeros(6) && (g[6] !== 0 || g[7] > 1)
            ? 'IPv4-compatible'
            : undefined;
  if (form) {
    const why = ipv4Reason(embedded);
    if (why) return `${why}, in its ${form} IPv6 form`;
  }
  if (g.join(':') === [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254].join(':')) return 'the cloud instance metadata address fd00:ec2::254';
  if ((g[0] & 0xffc0) === 0xfe80) return 'a link-local address (fe80::/10)';
  return undefined;
}
