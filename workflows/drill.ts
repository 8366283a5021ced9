// A rollback drill (issue 6, section 4): in staging, deploy a deliberately marked bad revision of the
// runbook's first kubernetes Deployment, run the runbook's real rollback as a child workflow, and
// measure time-to-restore against the runbook's SLA. The result is audited, counted and queryable. A forced
// drill (outside staging, or of a runbook that requires approval) is a person's decision, judged at its start.
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  proxySinks,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { TrustSettings, createActivities } from '../activities/index.js';
import { DRILL_MARKER, drillRefusal, drillStep, drillVerdict, type DrillInput, type DrillReport, type DrillStart } from '../runbook/drill.js';
import type { RunbookOrigin } from '../runbook/catalog.js';
import { loadCatalogRunbook } from './catalog.js';
import { durationText, formatDuration, runbookDurationProblems } from '../runbook/duration.js';
import type { RollbackInput, RollbackStatus, Trigger } from '../runbook/types.js';
import { FINAL_STEP_ERRORS, auditTrail, errorMessage } from './kit/index.js';
import { DRILL_DECISIONS, drillResultQuery } from '../api/messages.js';
import { mayAct } from '../runbook/permissions.js';
import { matchPattern } from '../runbook/sshsig.js';
import { judgeDecision, loadTrust, type VerifiedDecision } from './kit/decisions.js';
import { rollback } from './rollback.js';
import type { RearguardSinks } from './sinks.js';
import { rollbackWorkflowId } from '../api/ids.js';

type Activities = ReturnType<typeof createActivities>;
/** Besides the final step errors: a bad revision that never rolled out, or another drill or rollback in the way. */
const FINAL = [...FINAL_STEP_ERRORS, 'RolloutFailed', 'DrillConflict'];

/** Deploying the bad revision and cleaning up wait for rollouts: long, heartbeating. */
const rollouts = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: FINAL },
});
const reads = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', maximumAttempts: 3, nonRetryableErrorTypes: FINAL },
});
const { metrics } = proxySinks<RearguardSinks>();

/** A failed rollback throws RollbackFailed with its status as details; other outcomes return it. */
function statusOfFailure(err: unknown): RollbackStatus | undefined {
  if (!(err instanceof ChildWorkflowFailure) || !(err.cause instanceof ApplicationFailure)) return undefined;
  const details = err.cause.details?.[0] as RollbackStatus | undefined;
  return details && typeof details === 'object' && 'outcome' in details ? details : undefined;
}

/** The verdict in one sentence, for the audit trail and the failure message. */
function verdictSummary(report: DrillReport, slaText: string): string {
  const took = report.restoreSeconds !== undefined ? formatDuration(report.restoreSeconds * 1000) : undefined;
  if (report.verdict === 'met') return `restored in ${took}, within the ${slaText} SLA`;
  if (report.verdict === 'missed') return `restored in ${took}: the ${slaText} SLA was missed`;
  return `not restored by the rollback: ${report.error ?? report.rollback?.failure ?? `rollback ${report.rollback?.outcome ?? 'did not run'}`}`;
}

/**
 * Whether the person forcing a drill may: the policy's `drills` for the runbook's environment, then their
 * signed decision (drill.force, for this drill's workflow ID) as the worker's trust settings require.
 */
async function admitForce(input: DrillInput, workflowId: string): Promise<{ refused: string } | { verified?: VerifiedDecision }> {
  let trust: TrustSettings;
  try {
    trust = await loadTrust();
  } catch (err) {
    if (isCancellation(err)) throw err;
    return { refused: `could not load the worker's trust settings (signed decisions): ${errorMessage(err)}` };
  }
  const { actor, reason = '', signed } = input;
  if (trust.permissions) {
    const may = mayAct(trust.permissions, input.runbook.spec.environment, 'drills', actor);
    if (!may.ok) return { refused: `refused by the worker's policy: ${may.reason}` };
  }
  try {
    // A new run has seen no nonce: the decision is bound to this drill's workflow ID, which names its start time.
    return { verified: judgeDecision(trust, { action: DRILL_DECISIONS.force, workflowId, actor, reason, signed }, Date.now(), new Set()) };
  } catch (err) {
    return { refused: errorMessage(err) };
  }
}

export async function drill(start: DrillStart): Promise<DrillReport> {
  const { workflowId } = workflowInfo();
  // A catalog runbook is loaded on the worker (name and digest in history); its rollback then runs as a catalog
  // runbook too (origin), so a policy that refuses local runbooks outside dev does not refuse a reviewed drill.
  let origin: RunbookOrigin | undefined;
  let input: DrillInput;
  if (start.runbook) input = start;
  else {
    const entry = await loadCatalogRunbook(start.catalog);
    origin = { catalog: entry.source, revision: entry.revision, digest: entry.digest };
    input = { ...start, runbook: entry.runbook };
  }
  const { runbook, actor } = input;
  const forced = input.forced === true;
  const spec = runbook.spec;
  const target = { environment: spec.environment, service: spec.service };
  const inputProblems = runbookDurationProblems(runbook);
  if (inputProblems.length > 0) throw ApplicationFailure.nonRetryable(`invalid runbook input: ${inputProblems.join('; ')}`, 'InvalidRunbook');
  const slaText = durationText(spec.sla);
  const report: DrillReport = {
    workflowId,
    runbook: runbook.metadata.name,
    target,
    actor,
    forced,
    phase: 'deploying-bad-revision',
    startedAt: new Date().toISOString(),
    sla: slaText,
    slaSeconds: spec.sla / 1000,
  };
  setHandler(drillResultQuery, () => report);
  const trail = auditTrail(
    () => target,
    () => ({ runbook: runbook.metadata.name, drill: workflowId }),
  );

  async function refuse(reason: string): Promise<never> {
    report.phase = 'refused';
    report.error = reason;
    report.endedAt = new Date().toISOString();
    trail.record('drill.refused', actor, reason, { forced });
    await trail.flushed();
    throw ApplicationFailure.create({ type: 'DrillRefused', message: reason, nonRetryable: true, details: [report] });
  }

  // (a) Staging only unless forced; no runbook that would wait for approvers; something to break.
  const refusal = drillRefusal(runbook, forced);
  if (refusal) return refuse(refusal);
  // Forcing is a decision like an approval: by someone the policy allows, signed where the worker requires it.
  // Unforced drills (staging, scheduled) need no one's decision. patched: drills started before replay without it.
  if (forced && patched('drill-force-decision')) {
    const admitted = await admitForce(input, workflowId);
    if ('refused' in admitted) return refuse(`forced drill refused: ${admitted.refused}`);
    const { verified } = admitted;
    trail.record('drill.forced', actor, input.reason ?? '', verified ? { decision: verified.decision } : {}, undefined, verified?.signature);
  }
  // A local runbook file (not from the catalog) is drilled only where the worker's policy accepts local
  // runbooks: elsewhere its rollback would be refused, after the bad revision was deployed. Fails closed.
  // patched: drills started before this check replay without it.
  if (!origin && patched('drill-local-runbooks')) {
    let local: string[] | undefined;
    try {
      local = (await loadTrust()).localRunbooks;
    } catch (err) {
      if (isCancellation(err)) throw err;
      return refuse(`could not load the worker's trust settings: ${errorMessage(err)}`);
    }
    if (local && !local.some((p) => matchPattern(spec.environment, p)))
      return refuse(
        `runbook ${runbook.metadata.name} was sent as a local file, and the worker's policy accepts local runbooks only in ${local.join(', ') || 'no environment'}, not ${spec.environment}: drill the catalog runbook by name (drill run --runbook NAME)`,
      );
  }
  // Nothing is broken before we know the rollback could run (clusters, mechanisms, secrets).
  const problems = await reads.preflight({ runbook });
  if (problems.length > 0) return refuse(`the runbook's rollback would fail preflight, so nothing was changed: ${problems.join('; ')}`);

  const step = drillStep(runbook)!;
  report.step = step.name;
  const where = { cluster: step.cluster ?? spec.cluster, namespace: step.namespace, deployment: step.deployment };
  trail.record('drill.started', actor, `rollback drill of runbook ${runbook.metadata.name}${forced ? ` (forced: ${input.reason ?? 'no reason given'})` : ''}`, {
    forced,
    step: step.name,
    deployment: `${step.namespace}/${step.deployment}`,
    sla: slaText,
  });

  async function end(): Promise<DrillReport> {
    Object.assign(report, drillVerdict(report));
    report.phase = 'done';
    report.endedAt = new Date().toISOString();
    const summary = verdictSummary(report, slaText);
    trail.record(`drill.${report.verdict}`, 'rearguard', summary, {
      verdict: report.verdict,
      restoreSeconds: report.restoreSeconds,
      sla: slaText,
      slaMet: report.slaMet,
      rollback: report.rollback,
      revision: report.revision,
      after: report.after,
      cleanedUp: report.cleanedUp,
    });
    metrics.drillFinished({ runbook: runbook.metadata.name, ...target, verdict: report.verdict! }, report.restoreSeconds);
    await trail.flushed();
    if (report.verdict === 'failed')
      throw ApplicationFailure.create({ type: 'DrillFailed', message: `drill ${workflowId}: ${summary}`, nonRetryable: true, details: [report] });
    return report;
  }

  // (b) The deliberately bad revision, marked with this drill's ID.
  try {
    report.revision = await rollouts.drillDeployBadRevision({ ...where, marker: workflowId });
  } catch (err) {
    if (isCancellation(err)) throw err;
    report.error = `could not deploy the drill's bad revision: ${errorMessage(err)}`;
    return end();
  }
  const rev = report.revision;
  trail.record(
    'drill.bad-revision-deployed',
    'rearguard',
    `deployment ${rev.namespace}/${rev.deployment}: revision ${rev.goodRevision} (${rev.goodImages.join(', ')}) -> revision ${rev.badRevision} (${rev.badImages.join(', ')}), marked ${DRILL_MARKER}=${workflowId}`,
    { revision: rev },
  );

  // (c) The runbook's own rollback, as any trigger would start it (same ID, so it cannot race a real one).
  report.phase = 'rolling-back';
  const rollbackId = rollbackWorkflowId(spec.environment, spec.service);
  const trigger: Trigger = { source: 'drill', actor, reason: `rollback drill ${workflowId}`, requestId: input.requestId ?? workflowId };
  // A drill is not an incident: no RCA freeze of the service after its rollback.
  const drillRunbook = { ...runbook, spec: { ...spec, freezeAfter: undefined } };
  report.rollback = { workflowId: rollbackId };
  let status: RollbackStatus | undefined;
  try {
    status = await executeChild(rollback, {
      workflowId: rollbackId,
      args: [{ runbook: drillRunbook, trigger, ...(origin ? { origin } : {}) } satisfies RollbackInput],
      // If the drill itself is cancelled, the rollback still restores staging.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      memo: { requestId: trigger.requestId, runbook: runbook.metadata.name, actor, reason: trigger.reason },
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    status = statusOfFailure(err);
    if (!status) report.rollback.failure = errorMessage(err);
  }
  if (status) {
    report.rollback = {
      workflowId: rollbackId,
      outcome: status.outcome,
      startedAt: status.startedAt,
      endedAt: status.endedAt,
      slaBreached: status.sla.breached,
      ...(status.failure ? { failure: status.failure.error } : {}),
    };
    // (d) Time-to-restore as the rollback measures it: from its trigger to verified.
    if (status.outcome === 'succeeded' && status.endedAt) report.restoreSeconds = (Date.parse(status.endedAt) - Date.parse(status.startedAt)) / 1000;
  }

  report.phase = 'checking';
  try {
    report.after = await reads.drillInspect(where);
    report.restored = report.after.marker === undefined && report.after.rolloutDone;
  } catch (err) {
    report.error = `could not inspect deployment ${where.namespace}/${where.deployment} after the rollback: ${errorMessage(err)}`;
    report.restored = false;
  }
  if (report.after?.marker === workflowId) {
    // The rollback did not undo the drill: put the good template back so staging is not left broken.
    try {
      const restored = await rollouts.drillRestore(rev);
      report.cleanedUp = restored.patched;
      trail.record('drill.cleaned-up', 'rearguard', `the rollback left the drill's bad revision; restored revision ${rev.goodRevision}'s template`, {
        revision: restored.revision,
      });
    } catch (err) {
      report.error = `the rollback left the drill's bad revision and the clean-up failed: ${errorMessage(err)}`;
    }
  }
  return end();
}
