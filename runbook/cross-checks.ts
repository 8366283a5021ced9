// Rules that span several fields. They run on the raw document, beside the schema rather than after
// it, so one bad step does not hide a quorum mistake: the user sees every problem in one pass.
import { isDuration, parseDuration } from './duration.js';

export interface Problem {
  path: (string | number)[];
  message: string;
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function runbookCrossChecks(doc: unknown): Problem[] {
  const spec = obj(obj(doc)?.spec);
  if (!spec) return [];
  const problems: Problem[] = [];

  const stepNames = new Map<string, number>();
  list(spec.steps).forEach((s, i) => {
    const name = str(obj(s)?.name);
    if (name === undefined) return;
    const first = stepNames.get(name);
    if (first === undefined) stepNames.set(name, i);
    else problems.push({ path: ['spec', 'steps', i, 'name'], message: `duplicate step name "${name}" (also spec.steps[${first}])` });
  });

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
    if (dupe) problems.push({ path: ['spec', 'approval', 'approvers'], message: `duplicate approver "${dupe}"` });
  }

  const targets: string[] = [];
  list(spec.notify).forEach((n, i) => {
    const name = str(obj(n)?.name);
    if (name === undefined) return;
    if (targets.includes(name)) problems.push({ path: ['spec', 'notify', i, 'name'], message: `duplicate notify target "${name}"` });
    targets.push(name);
  });

  const sla = str(spec.sla);
  list(spec.escalation).forEach((e, i) => {
    const esc = obj(e);
    list(esc?.notify).forEach((name, j) => {
      if (typeof name === 'string' && !targets.includes(name)) {
        problems.push({
          path: ['spec', 'escalation', i, 'notify', j],
          message: `unknown notify target "${name}" (defined in spec.notify: ${targets.join(', ') || 'none'})`,
        });
      }
    });
    const at = str(esc?.at);
    if (at === undefined) return;
    const pct = /^(\d+)%$/.exec(at);
    if (pct && (Number(pct[1]) < 1 || Number(pct[1]) > 100)) {
      problems.push({ path: ['spec', 'escalation', i, 'at'], message: 'expected a percentage between 1% and 100%' });
    } else if (!pct && sla && isDuration(sla) && isDuration(at) && parseDuration(at) > parseDuration(sla)) {
      problems.push({ path: ['spec', 'escalation', i, 'at'], message: `escalation at ${at} is after the SLA (${sla})` });
    }
  });
  return problems;
}
