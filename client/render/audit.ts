// Human output for the audit trail (`rearguard audit`): one line per event, with its target and workflow; and the
// verdict of `rearguard audit verify` on its hash chain.
import type { ChainReport } from '../../api/audit-chain.js';
import type { AuditEvent } from '../../runbook/types.js';

export function auditLine(e: AuditEvent): string {
  const what = (e.details.step ?? e.details.check ?? '') as string;
  return `${e.time}  ${e.target.environment}/${e.target.service}  ${e.action}${what ? ` ${what}` : ''}  by ${e.actor}: ${e.reason}  [${e.workflowId}]`;
}

/** `rearguard audit verify`: the verdict first, then where the chain starts, its head and the signatures. */
export function renderChainReport(r: ChainReport, { signersGiven }: { signersGiven: boolean }): string[] {
  const lines: string[] = [];
  const events = `${r.events} event${r.events === 1 ? '' : 's'}`;
  if (r.break) {
    const b = r.break;
    lines.push(`${r.file}: chain broken at line ${b.line}${b.id ? ` (event ${b.id})` : ''}: ${b.kind}`);
    lines.push(`  ${b.message}`);
    if (b.kind !== 'no-chain') {
      lines.push(
        r.linked > 0
          ? `  ${events} in the file; the chain holds for the ${r.linked} linked event(s) before line ${b.line}.`
          : `  ${events} in the file; no link holds before line ${b.line}.`,
      );
    }
  } else {
    lines.push(`${r.file}: ${events}, chain intact`);
    if (r.unchained > 0 && r.chainStart)
      lines.push(
        `  The chain starts at line ${r.chainStart.line} (event ${r.chainStart.id}): the ${r.unchained} event(s) before it were written before the chain and are not covered.`,
      );
    if (r.head) lines.push(`  head ${r.head}`);
  }
  const s = r.signatures;
  if (s.signed > 0) {
    lines.push(
      signersGiven
        ? `  ${s.signed} signed event(s): ${s.verified} verified, ${s.failed.length} failed`
        : `  ${s.signed} signed event(s), not verified (pass --allowed-signers FILE to check them)`,
    );
    for (const f of s.failed) lines.push(`  signature of line ${f.line} (event ${f.id}, by ${f.principal}) does not verify: ${f.error}`);
  }
  return lines;
}
