// Human output for SLO guards: what a guard watches (`guard start`) and its status (`guard status`):
// state, pause, cooldown, the last evaluation's values and the latest triggers.
import { durationText, formatDuration } from '../../runbook/duration.js';
import type { Runbook } from '../../runbook/schema.js';
import type { SloGuardStatus } from '../../runbook/slo-guard.js';

/** One line per thing the guard watches. */
export function describeSlo(runbook: Runbook): string[] {
  const slo = runbook.spec.slo!;
  const lines = slo.conditions.map(
    (c) => `condition ${c.name}: ${c.above !== undefined ? `above ${c.above}` : `below ${c.below}`}${c.for !== undefined ? ` for ${durationText(c.for)}` : ''}`,
  );
  for (const w of slo.burnRate?.windows ?? [])
    lines.push(`burn rate of ${slo.objective}%: ${durationText(w.long)} and ${durationText(w.short)} windows above ${w.factor}x`);
  if (slo.health?.deployment) lines.push('deployment health: ProgressDeadlineExceeded');
  if (slo.health?.http) lines.push(`http health: GET ${slo.health.http.url.replace(/\?.*$/, '')} (${slo.health.http.failures} failures in a row)`);
  return lines;
}

const ago = (iso: string | undefined, now = Date.now()) => (iso ? `${formatDuration(now - Date.parse(iso))} ago` : 'never');

export function renderGuard(s: SloGuardStatus, now = Date.now()): string[] {
  const lines = [`${s.workflowId} (runbook ${s.runbook}): ${s.state}`];
  lines.push(`  started by ${s.startedBy} at ${s.startedAt}; evaluates every ${s.interval}, cooldown ${s.cooldown}; ${s.evaluations} evaluation(s)`);
  if (s.paused)
    lines.push(
      `  paused by ${s.paused.actor}${s.paused.signedWith ? ` (signed with key ${s.paused.signedWith})` : ''} ${ago(s.paused.since, now)}: ${s.paused.reason}`,
    );
  if (s.cooldownUntil && Date.parse(s.cooldownUntil) > now)
    lines.push(`  cooldown until ${s.cooldownUntil} (${formatDuration(Date.parse(s.cooldownUntil) - now)} left): no new trigger before`);
  if (!s.prometheus.reachable) lines.push(`  Prometheus unreachable since ${s.prometheus.since}: ${s.prometheus.error ?? ''} (alerting, not rolling back)`);
  const ev = s.lastEvaluation;
  if (ev) {
    lines.push(`  last evaluation ${ago(ev.time, now)}:`);
    for (const c of ev.conditions)
      lines.push(`    ${c.name}: ${c.value ?? 'no data'}${c.breached ? ` (crossed since ${s.breachedSince[c.name] ?? '?'})` : ''}`);
    for (const w of ev.burnRate)
      lines.push(
        `    burn ${w.long}/${w.short}: ${w.longBurn?.toFixed(2) ?? 'no data'}x / ${w.shortBurn?.toFixed(2) ?? 'no data'}x (factor ${w.factor})${w.breached ? ' BREACHED' : ''}`,
      );
    if (ev.health.deployment) lines.push(`    deployment: ${ev.health.deployment.message}`);
    if (ev.health.http) lines.push(`    http: ${ev.health.http.message}`);
    if (ev.prometheusError) lines.push(`    prometheus: ${ev.prometheusError}`);
    lines.push(ev.violations.length ? `  violations: ${ev.violations.join('; ')}` : '  no violation');
  }
  for (const t of s.triggers.slice(-5)) lines.push(`  ${t.time} ${t.joined ? 'joined' : 'started'} ${t.rollbackId}: ${t.violations.join('; ')}`);
  return lines;
}
