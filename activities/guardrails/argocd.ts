// Argo CD guardrails.
//
// syncWindow: a deny window that is always active (schedule every minute, lasting an hour, every
// application of the project, manual syncs denied too) appended to each AppProject's
// spec.syncWindows. The window's `description` (a field of SyncWindow in Argo CD v3.5) marks it as
// ours: "rearguard freeze=<freezeId> list=<created|existing>: <reason>". `list` remembers whether
// spec.syncWindows existed before the first Rearguard window was added (a later freeze's window
// copies it), so the key is removed again with the last one. Argo CD's API server refuses a project
// holding two windows with the same kind/schedule/duration/scope (SyncWindow.HashIdentity), so each
// window gets the first duration ("1h", "1h1m", ...) no other window with its schedule uses.
//
// disableAutoSync: `spec.syncPolicy.automated` removed from each Application of the projects, its
// exact previous value kept in the annotation rearguard.io/saved-automated and the freezes holding it
// in rearguard.io/frozen-by; put back when the last holder releases it.
import type { GuardrailChange, Guardrails } from '../../runbook/freeze.js';
import type { KubeClient, KubeObject } from '../kubernetes/client.js';
import { FROZEN_BY, annotationOps, change, formatHolders, guardedUpdate, holdersOf, type Decision, type PatchOp } from './common.js';

export type ArgoGuardrail = NonNullable<Guardrails['argocd']>;

export const SAVED_AUTOMATED = 'rearguard.io/saved-automated';
const SCHEDULE = '* * * * *';
const DESCRIPTION = /^rearguard freeze=(\S+) list=(created|existing)(?::|$)/;
const API = '/apis/argoproj.io/v1alpha1/namespaces';

const projectPath = (ns: string, name: string) => `${API}/${ns}/appprojects/${name}`;
const appPath = (ns: string, name: string) => `${API}/${ns}/applications/${name}`;

interface Marker {
  freezeId: string;
  list: 'created' | 'existing';
}

export function windowMarker(window: KubeObject): Marker | undefined {
  const m = typeof window?.description === 'string' ? DESCRIPTION.exec(window.description) : null;
  return m ? { freezeId: m[1], list: m[2] as Marker['list'] } : undefined;
}

function description(freezeId: string, list: Marker['list'], reason: string): string {
  const head = `rearguard freeze=${freezeId} list=${list}`;
  const text = reason.replace(/\s+/g, ' ').trim();
  const room = 255 - head.length - 2; // Argo CD refuses descriptions over 255 characters
  if (!text || room < 4) return head;
  return `${head}: ${text.length > room ? `${text.slice(0, room - 1)}…` : text}`;
}

function freeDuration(windows: KubeObject[]): string {
  const used = new Set(windows.filter((w) => w?.kind === 'deny' && w?.schedule === SCHEDULE).map((w) => w.duration as string));
  for (let extra = 0; ; extra++) {
    const d = extra === 0 ? '1h' : `1h${extra}m`;
    if (!used.has(d)) return d;
  }
}

async function projectNames(kube: KubeClient, cfg: ArgoGuardrail): Promise<string[]> {
  if (!cfg.projects.includes('*')) return cfg.projects;
  const list = await kube.get(`${API}/${cfg.namespace}/appprojects`);
  return ((list.items ?? []) as KubeObject[]).map((p) => p.metadata.name as string).sort();
}

async function applications(kube: KubeClient, ns: string): Promise<KubeObject[]> {
  const list = await kube.get(`${API}/${ns}/applications`);
  return ((list.items ?? []) as KubeObject[]).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
}

/** `automated` as Argo CD reads it: present, and not switched off with `enabled: false`. */
const autoSyncOn = (automated: unknown): boolean => automated !== undefined && automated !== null && (automated as { enabled?: boolean }).enabled !== false;

export async function applyArgo(kube: KubeClient, cfg: ArgoGuardrail, freezeId: string, reason: string, missing: string[]): Promise<GuardrailChange[]> {
  const changes: GuardrailChange[] = [];
  if (cfg.mode === 'syncWindow') {
    for (const name of await projectNames(kube, cfg)) {
      const target = `appproject ${cfg.namespace}/${name}`;
      const done = await guardedUpdate(kube, projectPath(cfg.namespace, name), (obj): Decision => {
        const windows = (obj.spec?.syncWindows ?? undefined) as KubeObject[] | undefined;
        const markers = (windows ?? []).map(windowMarker);
        if (markers.some((m) => m?.freezeId === freezeId)) return { ops: [], action: 'deny sync window already present' };
        const list = markers.find((m) => m)?.list ?? (windows === undefined ? 'created' : 'existing');
        const duration = freeDuration(windows ?? []);
        const window = {
          kind: 'deny',
          schedule: SCHEDULE,
          duration,
          applications: ['*'],
          manualSync: false,
          description: description(freezeId, list, reason),
        };
        const ops: PatchOp[] = [];
        if (!obj.spec) ops.push({ op: 'add', path: '/spec', value: {} });
        ops.push(windows === undefined ? { op: 'add', path: '/spec/syncWindows', value: [window] } : { op: 'add', path: '/spec/syncWindows/-', value: window });
        return { ops, action: `deny sync window added (always active, duration ${duration}, all applications, manual syncs denied)` };
      });
      if (!done) missing.push(target);
      changes.push(change('argocd', target, done?.action ?? 'not found: no sync window added'));
    }
    return changes;
  }
  for (const app of await applications(kube, cfg.namespace)) {
    if (!cfg.projects.includes('*') && !cfg.projects.includes(app.spec?.project)) continue;
    const target = `application ${cfg.namespace}/${app.metadata.name}`;
    const done = await guardedUpdate(kube, appPath(cfg.namespace, app.metadata.name), (obj): Decision => {
      const holders = holdersOf(obj.metadata.annotations?.[FROZEN_BY]);
      if (holders.includes(freezeId)) return { ops: [], action: 'auto-sync already disabled by this freeze' };
      if (holders.length) {
        return {
          ops: annotationOps(obj, { [FROZEN_BY]: formatHolders([...holders, freezeId]) }),
          action: `auto-sync already disabled by ${holders.join(', ')}; this freeze holds it too`,
        };
      }
      const automated = obj.spec?.syncPolicy?.automated;
      if (!autoSyncOn(automated)) {
        const why = automated ? 'automated.enabled is false' : 'no automated sync policy';
        return { ops: [], action: `skipped: ${why}, nothing to disable` };
      }
      return {
        ops: [
          { op: 'remove', path: '/spec/syncPolicy/automated' },
          ...annotationOps(obj, { [SAVED_AUTOMATED]: JSON.stringify(automated), [FROZEN_BY]: freezeId }),
        ],
        action: `auto-sync disabled (automated ${JSON.stringify(automated)} removed, saved in ${SAVED_AUTOMATED})`,
      };
    });
    // Deleted between the list and the update: nothing left to freeze.
    changes.push(change('argocd', target, done?.action ?? 'skipped: deleted while the freeze was applied'));
  }
  return changes;
}

export async function restoreArgo(kube: KubeClient, cfg: ArgoGuardrail, freezeId: string): Promise<GuardrailChange[]> {
  const changes: GuardrailChange[] = [];
  if (cfg.mode === 'syncWindow') {
    for (const name of await projectNames(kube, cfg)) {
      const target = `appproject ${cfg.namespace}/${name}`;
      const done = await guardedUpdate(kube, projectPath(cfg.namespace, name), (obj): Decision => {
        const windows = (obj.spec?.syncWindows ?? []) as KubeObject[];
        const ours = windows.map((w, i) => ({ i, m: windowMarker(w) })).filter((x) => x.m?.freezeId === freezeId);
        if (!ours.length) return { ops: [], action: 'no deny sync window of this freeze (nothing to remove)' };
        if (ours.length === windows.length && ours.some((x) => x.m!.list === 'created'))
          return { ops: [{ op: 'remove', path: '/spec/syncWindows' }], action: 'deny sync window removed (and spec.syncWindows, absent before the freeze)' };
        return {
          ops: ours.reverse().map((x) => ({ op: 'remove', path: `/spec/syncWindows/${x.i}` }) as PatchOp),
          action: 'deny sync window removed',
        };
      });
      changes.push(change('argocd', target, done?.action ?? 'not found: nothing to remove'));
    }
    return changes;
  }
  // The Applications of these projects that this freeze holds: a restore for some projects only (a
  // calendar edit dropping them) leaves the others frozen.
  for (const app of await applications(kube, cfg.namespace)) {
    if (!cfg.projects.includes('*') && !cfg.projects.includes(app.spec?.project)) continue;
    if (!holdersOf(app.metadata.annotations?.[FROZEN_BY]).includes(freezeId)) continue;
    const target = `application ${cfg.namespace}/${app.metadata.name}`;
    const done = await guardedUpdate(kube, appPath(cfg.namespace, app.metadata.name), (obj): Decision => {
      const annotations = (obj.metadata.annotations ?? {}) as Record<string, string>;
      const holders = holdersOf(annotations[FROZEN_BY]);
      if (!holders.includes(freezeId)) return { ops: [], action: 'not held by this freeze (nothing to restore)' };
      const rest = holders.filter((h) => h !== freezeId);
      if (rest.length) return { ops: annotationOps(obj, { [FROZEN_BY]: formatHolders(rest) }), action: `auto-sync still disabled: held by ${rest.join(', ')}` };
      let saved: unknown;
      try {
        saved = JSON.parse(annotations[SAVED_AUTOMATED]);
      } catch {
        saved = undefined;
      }
      const release = annotationOps(obj, {}, [FROZEN_BY, SAVED_AUTOMATED]);
      if (saved === undefined || saved === null || typeof saved !== 'object') {
        return { ops: release, action: `released, but ${SAVED_AUTOMATED} is missing or invalid: auto-sync left disabled, re-enable it by hand` };
      }
      const put: PatchOp =
        obj.spec?.syncPolicy === undefined || obj.spec?.syncPolicy === null
          ? { op: 'add', path: '/spec/syncPolicy', value: { automated: saved } }
          : { op: 'add', path: '/spec/syncPolicy/automated', value: saved };
      return { ops: [put, ...release], action: `auto-sync restored (automated ${JSON.stringify(saved)})` };
    });
    changes.push(change('argocd', target, done?.action ?? 'not found: deleted during the freeze, nothing to restore'));
  }
  return changes;
}
