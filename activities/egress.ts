// Egress control at run time (README, "Egress policy"): before any outbound request made for a runbook the
// worker resolves the host, refuses cloud metadata and link-local addresses (always, policy or not), and then
// connects to exactly the addresses it checked, so a DNS answer that changes in between (rebinding) is not
// used. With a policy, the secrets a request carries and its host must be allowed (runbook/policy.ts).
// Refusals are ConfigurationErrors (never retried) that name the host and the rule, never a secret's value.
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { ApplicationFailure } from '@temporalio/activity';
import { egressRefusals, isForbiddenAddress, urlHost, type Policy } from '../runbook/policy.js';
import { configurationError } from './errors.js';

/** Every address of a host name (an IP literal resolves to itself). */
export type Lookup = (host: string) => Promise<LookupAddress[]>;
export const systemLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

/** What the activities need for egress decisions: the worker's policy (none: only the always-on refusals) and a resolver. */
export interface Egress {
  policy?: Policy;
  lookup?: Lookup;
}

/**
 * Refuses a request the policy does not allow: `urlEnv` names the variable the URL came from (else the URL
 * is literal), `secrets` the variables whose values travel in headers. No policy: nothing to refuse here.
 */
export function enforcePolicy(policy: Policy | undefined, req: { url: string; urlEnv?: string; secrets?: readonly string[] }, what: string): void {
  if (!policy) return;
  const host = urlHost(req.url);
  if (host === undefined) throw configurationError(`${what}: not a valid URL`);
  const secrets = [...(req.urlEnv !== undefined ? [req.urlEnv] : []), ...(req.secrets ?? [])];
  const refusals = egressRefusals(policy, { host, literal: req.urlEnv === undefined, secrets });
  if (refusals.length > 0) throw configurationError(`${what}: refused by the egress policy (REARGUARD_POLICY): ${refusals.join('; ')}`);
}

export interface Destination {
  host: string;
  addresses: LookupAddress[];
}

/**
 * The host's addresses, all checked: a ConfigurationError if any is forbidden (a name with one metadata
 * address among others is refused too), a retryable HttpUnavailable if the name does not resolve.
 */
export async function resolveDestination(url: string, what: string, lookup: Lookup = systemLookup): Promise<Destination> {
  const host = urlHost(url);
  if (host === undefined) throw configurationError(`${what}: not a valid URL`);
  // An IP literal is checked as written, before any resolver sees it.
  const literal = isForbiddenAddress(host);
  if (literal) throw refusal(what, host, host, literal);
  let addresses: LookupAddress[];
  try {
    addresses = await lookup(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw ApplicationFailure.retryable(`${what}: ${code}`, 'HttpUnavailable');
  }
  if (addresses.length === 0) throw ApplicationFailure.retryable(`${what}: ${host} has no address`, 'HttpUnavailable');
  for (const a of addresses) {
    const why = isForbiddenAddress(a.address);
    if (why) throw refusal(what, host, a.address, why);
  }
  return { host, addresses };
}

/** Only the refusals of resolveDestination: a name that does not resolve is left to the request itself. */
export async function refuseForbidden(url: string, what: string, lookup: Lookup = systemLookup): Promise<void> {
  await resolveDestination(url, what, lookup).catch((err: unknown) => {
    if (err instanceof ApplicationFailure && err.type === 'ConfigurationError') throw err;
  });
}

const refusal = (what: string, host: string, address: string, why: string) =>
  configurationError(`${what}: refused: ${host === address ? `${host} is` : `${host} resolves to ${address},`} ${why}; Rearguard never connects to it`);

/** What fetch needs to connect only to checked addresses (undici's Agent with a fixed lookup). */
export interface PinnedDispatcher {
  close(): Promise<void>;
}
type AgentClass = new (opts: { connect: { lookup: PinnedLookup } }) => PinnedDispatcher;
type PinnedLookup = (
  hostname: string,
  options: { family?: number | string; all?: boolean } | number | undefined,
  callback: (err: Error | null, address?: string | LookupAddress[], family?: number) => void,
) => void;

let agentClass: AgentClass | null | undefined;

/**
 * undici's Agent class, as bundled with Node for globalThis.fetch (no separate dependency): the constructor of
 * the global dispatcher, which exists after the first fetch. null when it is not a plain Agent (e.g. a proxy
 * set with setGlobalDispatcher): then requests are refused (pinnedDispatcher).
 */
async function undiciAgent(): Promise<AgentClass | null> {
  if (agentClass !== undefined) return agentClass;
  const key = Symbol.for('undici.globalDispatcher.1');
  const global = globalThis as unknown as Record<symbol, { constructor?: { name?: string } } | undefined>;
  if (!global[key]) await fetch('data:,').catch(() => undefined);
  const ctor = global[key]?.constructor;
  agentClass = ctor?.name === 'Agent' ? (ctor as unknown as AgentClass) : null;
  return agentClass;
}

/**
 * Pinned dispatchers kept for reuse (their connections stay alive between requests, as with the global agent),
 * keyed by host and the exact addresses checked: a new DNS answer gets a new dispatcher, never an old connection
 * to an address that was not checked this time. At most DISPATCHERS_KEPT, the oldest closed first.
 */
const kept = new Map<string, PinnedDispatcher>();
const DISPATCHERS_KEPT = 64;

/** A dispatcher whose connections go only to the destination's checked addresses (the TLS name stays the host). */
export async function pinnedDispatcher(dest: Destination): Promise<PinnedDispatcher | undefined> {
  const key = `${dest.host}|${dest.addresses.map((a) => `${a.family}/${a.address}`).join(',')}`;
  const reused = kept.get(key);
  if (reused) {
    kept.delete(key);
    kept.set(key, reused);
    return reused;
  }
  const made = await newPinnedDispatcher(dest);
  kept.set(key, made);
  if (kept.size > DISPATCHERS_KEPT) {
    const [oldest, d] = kept.entries().next().value as [string, PinnedDispatcher];
    kept.delete(oldest);
    d.close().catch(() => undefined);
  }
  return made;
}

async function newPinnedDispatcher(dest: Destination): Promise<PinnedDispatcher> {
  const Agent = await undiciAgent();
  // Fail closed: without pinning, the connection would make its own DNS lookup after the check (rebinding).
  if (!Agent)
    throw configurationError(
      `${dest.host}: cannot pin the connection to the checked addresses (Node's fetch dispatcher is not a plain undici Agent; was a proxy installed?), so the request is refused`,
    );
  const lookup: PinnedLookup = (_hostname, options, callback) => {
    const raw = typeof options === 'number' ? options : options?.family;
    const family = raw === 'IPv4' ? 4 : raw === 'IPv6' ? 6 : Number(raw ?? 0);
    const list = dest.addresses.filter((a) => !family || a.family === family);
    if (list.length === 0) {
      callback(Object.assign(new Error(`${dest.host} has no IPv${family} address`), { code: 'ENOTFOUND' }));
      return;
    }
    if (typeof options === 'object' && options.all) callback(null, list);
    else callback(null, list[0].address, list[0].family);
  };
  return new Agent({ connect: { lookup } });
}

/**
 * Replaces every secret value (and the parts of one that a response may echo: a URL's path and query, its
 * credentials, a header's token after "Bearer ") with [redacted]. Longest first, so a whole value goes before its parts.
 */
export function redactor(secrets: readonly string[]): (text: string) => string {
  const fragments = new Set<string>();
  for (const value of secrets) {
    if (!value) continue;
    fragments.add(value);
    fragments.add(encodeURIComponent(value));
    for (const word of value.split(/\s+/)) if (word.length >= 8) fragments.add(word);
    if (URL.canParse(value)) {
      const u = new URL(value);
      const parts = [`${u.pathname}${u.search}`, u.search.slice(1), u.username, u.password, ...u.pathname.split('/'), ...u.searchParams.values()];
      for (const p of parts) if (p.length >= 8) fragments.add(p);
    }
  }
  const list = [...fragments].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
  return (text) => list.reduce((t, f) => t.split(f).join('[redacted]'), text);
}
