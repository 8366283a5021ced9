// Human output for release freezes: one line per window (`freeze list`, `freeze status`), the gate's
// answer (`freeze check`), and why a `freeze start` for a running name was refused.
import { DateTime } from 'luxon';
import { freezeWorkflowId } from '../../api/ids.js';
import type { FreezeException, FreezeState, StartDifference } from '../../runbook/freeze.js';
import type { GateAnswer, UnreadableFreeze } from '../../runbook/gate.js';
import type { GateEntry } from '../../runbook/gate-view.js';
import { localTime } from '../../runbook/time.js';

export { localTime };

/** How the CLI names a window: its name, or its ID for occurrences of a recurring one. */
const windowRef = (w: { id: string; name: string }): string => (w.id === freezeWorkflowId(w.name) ? w.name : w.id);

export const freezeLine = (s: GateEntry): string =>
  `${s.name.padEnd(20)} ${s.phase.padEnd(9)} ${s.scope.environments.join(',')}/${s.scope.services.join(',')}  ${s.phase === 'scheduled' ? `from ${localTime(s.start)} ` : ''}until ${localTime(s.end)}  ${s.reason} (by ${s.actor})${s.exceptions.length ? `  exceptions: ${s.exceptions.map((e) => `${e.changeId}=${e.status}`).join(', ')}` : ''}${s.released?.length ? `  released: ${s.released.join(',')}` : ''}${s.guardrails ? `  guardrails: ${s.guardrails.restored ? 'restored' : s.guardrails.applied ? 'held' : 'not applied'} (${s.guardrails.changes.length} change(s))` : ''}${s.calendar ? `  calendar: ${s.calendar.name}${s.calendar.appliedBy ? ` (applied by ${s.calendar.appliedBy})` : ''}` : ''}${s.refusal ? `  refused: ${s.refusal}` : ''}`;

/** `freeze start`: the window as it now runs, started or found unchanged. */
export function startedLine(state: FreezeState, started: boolean, tz: string): string {
  const window = `${state.name} (${state.scope.environments.join(',')} / ${state.scope.services.join(',')}) from ${localTime(state.start, tz)} until ${localTime(state.end, tz)}`;
  return started
    ? `Freeze started: ${window}: ${state.reason}`
    : `Freeze ${state.name} is already running with the same settings: ${window}: ${state.reason} (started by ${state.actor}; nothing was changed)`;
}

/** Why a `freeze start` for a running name changed nothing, and what to run instead. */
export function differenceLines(name: string, differences: StartDifference[], askedEnd: string, tz: string): string[] {
  const show = (d: StartDifference) => (d.setting === 'start' || d.setting === 'end' ? (v: string) => localTime(v, tz) : (v: string) => v);
  const endDiff = differences.find((d) => d.setting === 'end');
  const endText = DateTime.fromISO(endDiff?.asked ?? askedEnd, { zone: tz }).toFormat("yyyy-LL-dd'T'HH:mm");
  return [
    `freeze ${name} is already running with different settings; nothing was changed:`,
    ...differences.map((d) => `  ${d.setting}: running ${show(d)(d.running)}, you asked for ${show(d)(d.asked)}`),
    ...(endDiff && Date.parse(endDiff.asked) > Date.parse(endDiff.running)
      ? [`To move its end: rearguard freeze extend --name ${name} --end ${endText} --tz ${tz} --reason "..."`]
      : endDiff
        ? [`An end cannot move earlier: lift it (rearguard freeze lift --name ${name} --reason "...") and start a new one.`]
        : []),
    ...(differences.some((d) => d.setting !== 'end')
      ? [`To freeze other environments or services, or with other settings, use a new name: rearguard freeze start --name <ANOTHER-NAME> ...`]
      : []),
  ];
}

export const exceptionApprovedLine = (e: FreezeException): string =>
  `Exception for ${e.changeId}: ${e.status} (${e.approvals.length} approval(s)), valid until ${localTime(e.validUntil)}.`;

export const exceptionRejectedLine = (e: FreezeException): string =>
  `Exception for ${e.changeId}: rejected by ${e.rejection?.actor ?? 'unknown'} (${e.rejection?.reason ?? ''}); the gate blocks the change again.`;

/** Running freezes that could not be read (`freeze list`, `freeze calendar apply`). */
export const unreadableLines = (unreadable: UnreadableFreeze[]): string[] => unreadable.map((u) => `  ${u.id}: ${u.error}`);

const unreadableLine = (u: UnreadableFreeze) => `  ${u.id === '*' ? 'running freezes' : u.id}: ${u.error}`;

/** The warning (on stderr) that the gate answered `allowed` only because the caller asked it to fail open. */
export const failedOpenWarning = (d: GateAnswer, actor: string): string =>
  `rearguard: warning: the freeze gate failed open for ${d.environment}/${d.service}${d.change ? ` change ${d.change}` : ''} (--fail-open, by ${actor}): ${d.unreadable.map((u) => `${u.id}: ${u.error}`).join('; ')}`;

/** What to do next about the first blocking window: ask for an exception, or chase the one already asked for. */
function exceptionHint(d: GateAnswer): string[] {
  const w = d.blockedBy[0];
  const ref = windowRef(w);
  if (w.exception?.status === 'pending')
    return [
      `The exception for ${d.change} is pending (${w.exception.approvals}/${w.exception.quorum} approval(s)); an approver (${w.exception.approvers.join(', ') || 'none configured'}) runs:`,
      `  rearguard freeze exception approve --name ${ref} --change ${d.change} --reason "..."`,
    ];
  if (w.exception?.status === 'rejected')
    return [
      `The exception for ${d.change} was rejected by ${w.exception.rejection?.actor ?? 'an approver'}: ${w.exception.rejection?.reason ?? ''}`,
      `To ask again: rearguard freeze exception request --name ${ref} --change ${d.change} --reason "..."`,
    ];
  if (w.exception?.status === 'expired')
    return [`The exception for ${d.change} has expired; ask again: rearguard freeze exception request --name ${ref} --change ${d.change} --reason "..."`];
  return [`To ask for an exception: rearguard freeze exception request --name ${ref} --change ${d.change ?? '<CHANGE-ID>'} --reason "..."`];
}

/** The gate's answer for a person or a CI log. */
export function describeDecision(d: GateAnswer): string[] {
  const target = `${d.environment}/${d.service}${d.change ? ` change ${d.change}` : ''}`;
  if (d.result === 'unknown') {
    return [
      `UNKNOWN: cannot tell whether ${target} is frozen: ${d.unreadable.length} running freeze(s) could not be read`,
      ...d.unreadable.map(unreadableLine),
      'The gate fails closed: deploys stay blocked until every running freeze can be read (rearguard freeze list shows them).',
      'To deploy anyway, ask again with --fail-open (logged).',
    ];
  }
  if (d.failedOpen) {
    return [
      `allowed (failing open, --fail-open): ${target} is not blocked by any freeze that could be read, but ${d.unreadable.length} could not be read`,
      ...d.unreadable.map(unreadableLine),
    ];
  }
  if (d.allowed) {
    return [
      `allowed: ${target} is not frozen`,
      ...d.exceptedBy.map((e) => `  (freeze ${e.name} applies, but exception ${e.changeId} is approved until ${localTime(e.validUntil)})`),
    ];
  }
  return [
    `FROZEN: ${target} is blocked by a release freeze`,
    ...d.blockedBy.map((w) => `  ${w.name}: ${w.reason} (by ${w.actor}) until ${localTime(w.end)}`),
    ...exceptionHint(d),
    ...(d.unreadable.length ? [`(also ${d.unreadable.length} running freeze(s) could not be read:)`, ...d.unreadable.map(unreadableLine)] : []),
  ];
}
