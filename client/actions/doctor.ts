// `rearguard doctor`: everything between this command line and production, checked in order, one line each with
// the fix when it fails. From here: the Temporal connection (address, TLS, API key, as every command makes it),
// the namespace, the workers polling the task queue, Worker Versioning's current version (api/doctor.ts). On a
// worker (workflows/doctor.ts, activities/doctor.ts): tools, clusters and access, catalog, Prometheus, audit file.
import { calendarGuardrails } from '../../runbook/calendar.js';
import type { DiagnoseInput, Finding } from '../../runbook/doctor.js';
import type { Runbook } from '../../runbook/schema.js';
import { DEPLOYMENT_NAME } from '../../api/ids.js';
import type { CliContext } from '../context.js';
import { CliError, failed } from '../errors.js';
import { readCalendarOrFail } from './calendar.js';
import { readRunbookOrFail } from './runbook.js';

const line = (f: Finding): string[] => [
  `${f.verdict.toUpperCase().padEnd(4)}  ${f.check.padEnd(18)} ${f.detail}`,
  ...(f.fix && f.verdict !== 'ok' ? [`${' '.repeat(25)}fix: ${f.fix}`] : []),
];

export async function doctor(
  ctx: () => CliContext,
  raw: { runbook?: string[]; calendar?: string[]; deployment?: string },
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const c = ctx();
  const runbooks: Runbook[] = [];
  for (const file of raw.runbook ?? []) runbooks.push(await readRunbookOrFail(file));
  // A calendar's guardrails (Argo CD, Flux, flags) act when its windows start: check their access before that.
  const guardrails: NonNullable<DiagnoseInput['guardrails']> = [];
  for (const file of raw.calendar ?? []) {
    const cal = await readCalendarOrFail(file);
    const g = calendarGuardrails(cal).guardrails;
    if (g) guardrails.push({ calendar: cal.metadata.name, guardrails: g });
  }
  const findings: Finding[] = [];
  const report = () => {
    if (c.opts.json) c.out(JSON.stringify(findings));
    else findings.flatMap(line).forEach((l) => c.out(l));
    const failing = findings.filter((f) => f.verdict === 'fail').length;
    if (failing) throw failed(`${failing} check${failing > 1 ? 's' : ''} failed`);
  };

  let client;
  try {
    client = await c.connect();
    findings.push({ check: 'temporal', verdict: 'ok', detail: c.temporal ?? 'connected' });
  } catch (err) {
    const lines = err instanceof CliError ? err.lines : [String(err)];
    findings.push({ check: 'temporal', verdict: 'fail', detail: lines[0], ...(lines[1] ? { fix: lines[1] } : {}) });
    return report();
  }
  const { temporalFindings, workerFindings } = await import('../../api/doctor.js');
  const temporal = await temporalFindings(client, c.opts.taskQueue, raw.deployment ?? env.REARGUARD_DEPLOYMENT ?? DEPLOYMENT_NAME);
  findings.push(...temporal.findings);
  if (temporal.workers > 0) findings.push(...(await workerFindings(client, c.opts.taskQueue, { runbooks, ...(guardrails.length ? { guardrails } : {}) })));
  else
    findings.push({
      check: 'worker',
      verdict: 'fail',
      detail: "not checked: no worker to ask (tools, clusters, catalog, Prometheus are the worker's)",
      fix: 'start a worker first',
    });
  report();
}
