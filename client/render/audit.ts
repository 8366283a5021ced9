// Human output for the audit trail (`rearguard audit`): one line per event, with its target and workflow.
import type { AuditEvent } from '../../runbook/types.js';

export function auditLine(e: AuditEvent): string {
  const what = (e.details.step ?? e.details.check ?? '') as string;
  return `${e.time}  ${e.target.environment}/${e.target.service}  ${e.action}${what ? ` ${what}` : ''}  by ${e.actor}: ${e.reason}  [${e.workflowId}]`;
}
