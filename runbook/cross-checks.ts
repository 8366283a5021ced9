// Rules that span several fields. They run on the raw document, beside the schema rather than after
// it, so one bad step does not hide a quorum mistake: the user sees every problem in one pass.
import { DURATION_LIMITS, checkDuration, durationText } from './duration.js';
import { formatPath } from './issues.js';
import type { Runbook } from './schema.js';

export interface Problem {
  path: (string | number)[];
  message: string;
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
/** A name from the document as a message shows it: plain names as they are, anything else quoted (never a line break). */
const shown = (name: string): string => (/^[\w.@:+-]{1,100}$/.test(name) ? name : JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name));
const quoted = (name: string): string => JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name);

export function runbookCrossChecks(doc: unknown): Problem[] {
  const spec = obj(obj(doc)?.spec);
  if (!spec) return [];
  const problems: Problem[] = [];

  problems.push(...uniqueNames(spec.steps, 'steps', 'step'), ...uniqueNames(spec.verify, 'verify', 'check'));

  const approval = obj(spec.approval);
  if (approval && approval.required !== false) {
    const approvers = list(approval.approvers).filter((a): a is string => typeof a === 'string');
    const quorum = typeof approval.quorum === 'number' ? approval.quorum : 1;
    if (approvers.length === 0) {
      problems.push({ path: ['spec', 'approval', 'approvers'], message: 'expected at least one approver when approval is required' });
    } else if (quorum > approvers.length) {
      problems.push({ path: ['spec', 'approval', 'quorum'], message: `quorum ${quorum} is larger than the ${approvers.length} listed approver(s)` });
    }
    const dupe = approvers.find((a, i) => approvers.indexOf(a) !== i);
    if (dupe) problems.push({ path: ['spec', 'approval', 'approvers'], message: `duplicate approver ${quoted(dupe)}` });
  }

  const targets: string[] = [];
  list(spec.notify).forEach((n, i) => {
    const name = str(obj(n)?.name);
    if (name === undefined) return;
    if (targets.includes(name)) problems.push({ path: ['spec', 'notify', i, 'name'], message: `duplicate notify target ${quoted(name)}` });
    targets.push(name);
  });

  const sla = str(spec.sla) === undefined ? undefined : checkDuration(str(spec.sla)!, DURATION_LIMITS.timeout);
  list(spec.escalation).forEach((e, i) => {
    const esc = obj(e);
    list(esc?.notify).forEach((name, j) => {
      if (typeof name === 'string' && !targets.includes(name)) {
        problems.push({
          path: ['spec', 'escalation', i, 'notify', j],
          message: `unknown notify target ${quoted(name)} (defined in spec.notify: ${targets.map(shown).join(', ') || 'none'})`,
        });
      }
    });
    const at = str(esc?.at);
    if (at === undefined) return;
    const pct = /^(\d+)%$/.exec(at);
    if (pct && (Number(pct[1]) < 1 || Number(pct[1]) > 100)) {
      problems.push({ path: ['spec', 'escalation', i, 'at'], message: 'expected a percentage between 1% and 100%' });
    } else if (!pct && sla?.ok) {
      const atMs = checkDuration(at, DURATION_LIMITS.hold);
      if (atMs.ok && atMs.ms > sla.ms)
        problems.push({ path: ['spec', 'escalation', i, 'at'], message: `escalation at ${at} is after the SLA (${durationText(sla.ms)})` });
    }
  });
  problems.push(...sloReferences(spec, targets));
  return problems;
}

/**
 * Step and check names must be unique, including the generated ones (`<type>-<position>`, see load.ts):
 * status, audit and webhook Idempotency-Keys refer to them, so two items sharing one would share a key.
 */
function uniqueNames(items: unknown, key: 'steps' | 'verify', what: 'step' | 'check'): Problem[] {
  const problems: Problem[] = [];
  const explicit = new Map<string, number>();
  list(items).forEach((s, i) => {
    const name = str(obj(s)?.name);
    if (name === undefined) return;
    const first = explicit.get(name);
    if (first === undefined) explicit.set(name, i);
    else problems.push({ path: ['spec', key, i, 'name'], message: `duplicate ${what} name ${quoted(name)} (also spec.${key}[${first}])` });
  });
  list(items).forEach((s, i) => {
    const o = obj(s);
    const type = str(o?.type);
    if (!o || o.name !== undefined || type === undefined) return;
    const generated = defaultName(type, i);
    const other = explicit.get(generated);
    if (other !== undefined)
      problems.push({
        path: ['spec', key, i, 'name'],
        message: `this ${what} would be named ${quoted(generated)} (its default), which spec.${key}[${other}] already uses: give it a name`,
      });
  });
  return problems;
}

/** The name of an unnamed step or check: its type and position, e.g. `webhook-2`. */
export const defaultName = (type: string, index: number): string => `${type.toLowerCase()}-${index + 1}`;

/** spec.slo's references to the rest of the runbook (notify targets, the Deployment of `health.deployment: true`). */
function sloReferences(spec: Record<string, unknown>, targets: string[]): Problem[] {
  const slo = obj(spec.slo);
  if (!slo) return [];
  const problems: Problem[] = [];
  list(slo.notify).forEach((n, i) => {
    if (typeof n === 'string' && !targets.includes(n))
      problems.push({
        path: ['spec', 'slo', 'notify', i],
        message: `no notify target named ${shown(n)} in spec.notify (${targets.map(shown).join(', ') || 'none'})`,
      });
  });
  if (obj(slo.health)?.deployment === true && !list(spec.steps).some((s) => obj(s)?.type === 'kubernetes'))
    problems.push({
      path: ['spec', 'slo', 'health', 'deployment'],
      message: 'true needs a kubernetes step naming the Deployment; or give { namespace, deployment }',
    });
  return problems;
}

/** What `guard start` needs beyond a valid runbook: a spec.slo section (its references are checked by validation). */
export function sloProblems(runbook: Runbook): string[] {
  if (!runbook.spec.slo) return ['spec.slo: Required (the SLO guard needs conditions, burnRate or health to watch)'];
  return sloReferences(
    runbook.spec as unknown as Record<string, unknown>,
    runbook.spec.notify.map((n) => n.name),
  ).map((p) => `${formatPath(p.path)}: ${p.message}`);
}
