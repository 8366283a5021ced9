// Human output for a gradual unfreeze: each environment's state (soak time left, gate evaluations,
// failures), the last gate results, and what to run next.
import { formatDuration } from '../../runbook/duration.js';
import { localTime } from '../../runbook/time.js';
import type { UnfreezeStatus } from '../../runbook/unfreeze.js';

export function renderUnfreeze(s: UnfreezeStatus, now = Date.now()): string[] {
  const step = s.currentEnvironment ? ` (step ${s.current + 1}/${s.ladder.length}: ${s.currentEnvironment})` : '';
  const lines = [`Gradual unfreeze of ${s.freezeId}: ${s.phase}${step}; started by ${s.actor}: ${s.reason}`];
  lines.push(
    `  soak ${s.soak} per environment, gates every ${s.interval}${s.approveEach ? `, approval by ${s.approvers.join('/')} before each after the first` : ''}`,
  );
  const width = Math.max(...s.ladder.map((e) => e.length));
  for (const e of s.environments) {
    let detail = '';
    if (e.state === 'soaking' && e.soakEndsAt) {
      const left = e.remainingMs ?? Math.max(0, Date.parse(e.soakEndsAt) - now);
      detail = `${formatDuration(left)} left (soak ends ${localTime(e.soakEndsAt)})`;
    } else if (e.state === 'healthy' || (e.state === 'released' && e.healthyAt)) detail = `soaked healthy (${e.evaluations} gate evaluations)`;
    else if (e.state === 'failed') detail = `frozen again: ${e.failure ?? 'a gate failed'}`;
    else if (e.state === 'frozen' && s.phase === 'awaiting-approval' && e.environment === s.currentEnvironment) detail = 'waiting for an approver';
    if (e.attempts > 1) detail += ` [opened ${e.attempts} times]`;
    if (e.approvedBy) detail += ` [approved by ${e.approvedBy.actor}]`;
    lines.push(`  ${e.environment.padEnd(width)}  ${e.state.padEnd(8)}  ${detail}`.trimEnd());
  }
  if (s.lastGates.length > 0) {
    lines.push(`  last gate results (${localTime(s.lastGates[0].at)}):`);
    for (const g of s.lastGates) lines.push(`    ${g.ok ? 'ok  ' : 'FAIL'} ${g.gate}${g.detail ? `: ${g.detail}` : ''}`);
  } else if (s.gates.length === 0) lines.push('  no health gates: each soak is a timer only');
  if (s.phase === 'failed')
    lines.push(
      `  next: fix it, then \`rearguard unfreeze advance --freeze ${s.freezeId} --reason "..."\`, or \`rearguard unfreeze abort --freeze ${s.freezeId} --reason "..."\``,
    );
  if (s.phase === 'awaiting-approval') lines.push(`  next: an approver runs \`rearguard unfreeze approve --freeze ${s.freezeId}\``);
  if (s.outsideLadder?.length)
    lines.push(`  note: ${s.outsideLadder.join(', ')} (held by the freeze, not in the ladder) open when the freeze is lifted at the end`);
  if (s.error) lines.push(`  error: ${s.error}`);
  return lines;
}
