// Flux guardrail: Kustomizations and HelmReleases suspended while frozen (`spec.suspend: true`, what
// `flux suspend` does). Markers, as annotations on the object:
//   rearguard.io/frozen-by         the freezes holding it, comma-separated (overlapping freezes share it)
//   rearguard.io/suspended-before  spec.suspend before Rearguard first touched it: "true", "false" or
//                                  "absent" (no key)
// An object already suspended by someone else is held too (suspended-before "true"), so it is still
// suspended after the freeze. When the last holder releases it, spec.suspend is put back as it was
// (the key removed if it was absent) and both annotations go (the map too when nothing else is in it).
import type { GuardrailChange, Guardrails } from '../../runbook/freeze.js';
import { configurationError } from '../errors.js';
import type { KubeClient } from '../kubernetes/client.js';
import { FROZEN_BY, annotationOps, change, formatHolders, guardedUpdate, holdersOf, type Decision, type PatchOp } from './common.js';

export type FluxGuardrail = NonNullable<Guardrails['flux']>;

export const SUSPENDED_BEFORE = 'rearguard.io/suspended-before';

const KINDS = {
  kustomization: 'kustomize.toolkit.fluxcd.io/v1/namespaces/{ns}/kustomizations',
  helmrelease: 'helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases',
} as const;
type Kind = keyof typeof KINDS;

function targets(cfg: FluxGuardrail): { kind: Kind; ns: string; name: string; path: string; target: string }[] {
  const list: [Kind, string][] = [
    ...(cfg.kustomizations ?? []).map((r): [Kind, string] => ['kustomization', r]),
    ...(cfg.helmReleases ?? []).map((r): [Kind, string] => ['helmrelease', r]),
  ];
  return list.map(([kind, ref]) => {
    const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(ref);
    if (!m) throw configurationError(`guardrails.flux: ${kind} ${JSON.stringify(ref)}: expected namespace/name`);
    return { kind, ns: m[1], name: m[3], path: `/apis/${KINDS[kind].replace('{ns}', m[1])}/${m[3]}`, target: `${kind} ${ref}` };
  });
}

export async function applyFlux(kube: KubeClient, cfg: FluxGuardrail, freezeId: string, missing: string[]): Promise<GuardrailChange[]> {
  const changes: GuardrailChange[] = [];
  for (const t of targets(cfg)) {
    const done = await guardedUpdate(kube, t.path, (obj): Decision => {
      const holders = holdersOf(obj.metadata.annotations?.[FROZEN_BY]);
      if (holders.includes(freezeId)) return { ops: [], action: 'already suspended by this freeze' };
      if (holders.length) {
        return {
          ops: annotationOps(obj, { [FROZEN_BY]: formatHolders([...holders, freezeId]) }),
          action: `already suspended by ${holders.join(', ')}; this freeze holds it too`,
        };
      }
      const suspend: unknown = obj.spec?.suspend;
      const mark = annotationOps(obj, { [FROZEN_BY]: freezeId, [SUSPENDED_BEFORE]: suspend === undefined ? 'absent' : String(suspend === true) });
      if (suspend === true) return { ops: mark, action: 'left suspended: already suspended before the freeze (not by Rearguard), stays suspended after it' };
      const ops: PatchOp[] = [{ op: 'add', path: '/spec/suspend', value: true }, ...mark];
      return { ops, action: 'suspended' };
    });
    if (!done) missing.push(t.target);
    changes.push(change('flux', t.target, done?.action ?? 'not found: nothing suspended'));
  }
  return changes;
}

export async function restoreFlux(kube: KubeClient, cfg: FluxGuardrail, freezeId: string): Promise<GuardrailChange[]> {
  const changes: GuardrailChange[] = [];
  for (const t of targets(cfg)) {
    const done = await guardedUpdate(kube, t.path, (obj): Decision => {
      const annotations = (obj.metadata.annotations ?? {}) as Record<string, string>;
      const holders = holdersOf(annotations[FROZEN_BY]);
      if (!holders.includes(freezeId)) return { ops: [], action: 'not held by this freeze (nothing to restore)' };
      const rest = holders.filter((h) => h !== freezeId);
      if (rest.length) return { ops: annotationOps(obj, { [FROZEN_BY]: formatHolders(rest) }), action: `still suspended: held by ${rest.join(', ')}` };
      const before = annotations[SUSPENDED_BEFORE];
      const release = annotationOps(obj, {}, [FROZEN_BY, SUSPENDED_BEFORE]);
      if (before === 'true')
        return { ops: [{ op: 'add', path: '/spec/suspend', value: true }, ...release], action: 'left suspended: it was suspended before the freeze' };
      if (before === 'false') return { ops: [{ op: 'add', path: '/spec/suspend', value: false }, ...release], action: 'resumed (suspend: false, as before)' };
      if (before === 'absent') {
        const ops: PatchOp[] = obj.spec?.suspend === undefined ? release : [{ op: 'remove', path: '/spec/suspend' }, ...release];
        return { ops, action: 'resumed (suspend removed, absent before)' };
      }
      return { ops: release, action: `released, but ${SUSPENDED_BEFORE} is missing or invalid: left suspended, resume it by hand if it should run` };
    });
    changes.push(change('flux', t.target, done?.action ?? 'not found: deleted during the freeze, nothing to restore'));
  }
  return changes;
}
