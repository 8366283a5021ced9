// What the guardrails share: the freeze id rules, the holders list ("freeze:a,freeze:b") that every
// guarded object carries, and a read-decide-patch loop guarded by the object's resourceVersion.
import { ApplicationFailure } from '@temporalio/activity';
import type { GuardrailChange } from '../../runbook/freeze.js';
import { configurationError } from '../errors.js';
import type { KubeClient, KubeObject } from '../kubernetes/client.js';

/** Annotation (Kubernetes) or metadata key (flagd) listing the freezes holding the object, comma-separated. */
export const FROZEN_BY = 'rearguard.io/frozen-by';

/**
 * Freeze ids end up inside a comma-separated holders list and a sync window's description, so they
 * may hold neither commas nor whitespace (workflow ids such as `freeze:black-friday` are fine).
 */
export function checkFreezeId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,199}$/.test(id))
    throw configurationError(`freeze id ${JSON.stringify(id)}: expected 1-200 letters, digits and . _ : @ / + = - (no commas or spaces)`);
}

export function holdersOf(value: unknown): string[] {
  return typeof value === 'string'
    ? value
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean)
    : [];
}

export const formatHolders = (holders: string[]): string => holders.join(',');

export type PatchOp = { op: 'add' | 'replace' | 'remove' | 'test'; path: string; value?: unknown };

/** A JSON pointer segment (RFC 6901): annotation keys carry slashes. */
export const pointer = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Ops that set and remove annotations without replacing the map; the map itself is added when absent
 * and removed when nothing else is left in it (the API server drops an empty map anyway).
 */
export function annotationOps(obj: KubeObject, set: Record<string, string>, remove: string[] = []): PatchOp[] {
  const current = (obj.metadata?.annotations ?? undefined) as Record<string, string> | undefined;
  if (!current) return Object.keys(set).length ? [{ op: 'add', path: '/metadata/annotations', value: set }] : [];
  const left = Object.keys(current).filter((k) => !remove.includes(k) && !(k in set));
  if (left.length === 0 && Object.keys(set).length === 0) return [{ op: 'remove', path: '/metadata/annotations' }];
  const ops: PatchOp[] = [];
  for (const k of remove) if (k in current && !(k in set)) ops.push({ op: 'remove', path: `/metadata/annotations/${pointer(k)}` });
  for (const [k, v] of Object.entries(set)) ops.push({ op: 'add', path: `/metadata/annotations/${pointer(k)}`, value: v });
  return ops;
}

export interface Decision {
  /** JSON patch ops to apply (without the resourceVersion test, added here); none: nothing to change. */
  ops: PatchOp[];
  action: string;
}

const ATTEMPTS = 6;

/**
 * Reads the object, lets `decide` compute the change from what is there (markers included), and
 * applies it as a JSON patch that first tests the resourceVersion it decided on. When the object
 * changed in between (the test fails), it is read again and the decision made again; a failure on
 * an object that did not change is a real error and is thrown. Returns undefined when the object
 * does not exist.
 */
export async function guardedUpdate(kube: KubeClient, path: string, decide: (obj: KubeObject) => Decision): Promise<Decision | undefined> {
  let lastVersion: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const obj = await kube.get(path).catch((err: unknown) => {
      if (err instanceof ApplicationFailure && err.type === 'NotFound') return undefined;
      throw err;
    });
    if (!obj) return undefined;
    const decision = decide(obj);
    if (decision.ops.length === 0) return decision;
    const version = obj.metadata.resourceVersion as string;
    try {
      await kube.patch(path, [{ op: 'test', path: '/metadata/resourceVersion', value: version }, ...decision.ops], 'application/json-patch+json');
      return decision;
    } catch (err) {
      // A failed test is a 422 like any invalid patch: tell them apart by whether the object moved.
      const conflict = err instanceof ApplicationFailure && (err.type === 'KubernetesRejected' || err.type === 'KubernetesUnavailable');
      if (!conflict || attempt >= ATTEMPTS || version === lastVersion) throw err;
      lastVersion = version;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

export const change = (guardrail: GuardrailChange['guardrail'], target: string, action: string): GuardrailChange => ({ guardrail, target, action });
