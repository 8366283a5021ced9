// Human output for rollback drills: the report (bad revision, rollback, restore time against the SLA,
// the deployment after) and the progress lines printed while `--wait` follows one.
import { DRILL_MARKER, type DrillReport } from '../../runbook/drill.js';

const seconds = (s: number | undefined): string => (s === undefined ? '-' : `${s.toFixed(1)}s`);

export function renderDrill(r: DrillReport): string[] {
  const head = `${r.workflowId}  runbook ${r.runbook} (${r.target.environment}/${r.target.service})`;
  if (r.phase === 'refused') return [head, `REFUSED: ${r.error ?? ''}`];
  const verdict = r.verdict === 'met' ? 'SLA MET' : r.verdict === 'missed' ? 'SLA MISSED' : r.verdict === 'failed' ? 'FAILED' : `phase ${r.phase}`;
  const lines = [`${head}: ${verdict}`];
  const rev = r.revision;
  if (rev)
    lines.push(
      `  bad revision: deployment ${rev.namespace}/${rev.deployment} revision ${rev.goodRevision} (${rev.goodImages.join(', ')}) -> ${rev.badRevision} (${rev.badImages.join(', ')}), ${DRILL_MARKER}=${r.workflowId}`,
    );
  if (r.rollback)
    lines.push(
      `  rollback:     ${r.rollback.workflowId} ${r.rollback.outcome ?? 'not finished'}${r.rollback.failure ? `: ${r.rollback.failure}` : ''}${r.rollback.startedAt ? ` (triggered ${r.rollback.startedAt}${r.rollback.endedAt ? `, ended ${r.rollback.endedAt}` : ''})` : ''}`,
    );
  if (r.verdict)
    lines.push(
      `  restore time: ${seconds(r.restoreSeconds)} (trigger to verified), SLA ${r.sla} (${r.slaSeconds}s): ${r.verdict === 'failed' ? 'not restored' : r.slaMet ? 'met' : 'missed'}`,
    );
  if (r.after)
    lines.push(
      `  deployment:   revision ${r.after.revision ?? '?'} (${r.after.images.join(', ')}), ${r.after.marker ? `still carries the drill marker ${r.after.marker}` : 'drill marker gone'}${r.after.rolloutDone ? '' : ', rollout not complete'}`,
    );
  if (r.cleanedUp) lines.push('  clean-up:     the drill put the pre-drill template back itself');
  if (r.error) lines.push(`  error:        ${r.error}`);
  return lines;
}

/** The line for a phase a followed drill enters, if that phase has one. */
export function drillPhaseLine(r: DrillReport): string | undefined {
  if (r.phase === 'deploying-bad-revision') return `deploying a marked bad revision of ${r.step ?? 'the kubernetes step'}...`;
  if (r.phase === 'rolling-back')
    return `bad revision ${r.revision?.badRevision ?? '?'} is live; rollback ${r.rollback?.workflowId ?? ''} triggered (rearguard rollback status --id ${r.rollback?.workflowId ?? ''})`;
  if (r.phase === 'checking') return `rollback ${r.rollback?.outcome ?? 'ended'}; checking the deployment...`;
  return undefined;
}
