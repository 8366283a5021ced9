// `rearguard runbook validate`, and the one way commands read a runbook file (exit code 2 with every problem).
import { durationText } from '../../runbook/duration.js';
import { loadRunbook } from '../../runbook/load.js';
import { egressProblems, loadPolicy } from '../../runbook/policy.js';
import type { Runbook } from '../../runbook/schema.js';
import { badInput, loadedOrFail } from '../errors.js';
import type { CliContext } from '../context.js';

/** Loads and validates a runbook file, or fails with exit code 2 and every problem as `path: message`. */
export const readRunbookOrFail = async (file: string): Promise<Runbook> => loadedOrFail(await loadRunbook(file), file, 'runbook');

export async function validate(ctx: () => CliContext, file: string, opts: { policy?: string }): Promise<void> {
  const c = ctx();
  const policy = opts.policy === undefined ? undefined : loadedOrFail(await loadPolicy(opts.policy), opts.policy, 'policy');
  let loaded = await loadRunbook(file);
  // The policy's refusals are problems of the runbook, reported like the schema's.
  if (loaded.ok && policy) {
    const problems = egressProblems(loaded.value, policy);
    if (problems.length > 0) loaded = { ok: false, problems: problems.map((p) => `${p} (policy ${policy.metadata.name})`) };
  }
  if (c.opts.json) {
    c.out(JSON.stringify(loaded.ok ? { file, valid: true, runbook: loaded.value } : { file, valid: false, problems: loaded.problems }));
    if (!loaded.ok) throw badInput();
    return;
  }
  if (!loaded.ok) loadedOrFail(loaded, file, 'runbook');
  if (!loaded.ok) return;
  const { metadata, spec } = loaded.value;
  const approval = spec.approval?.required ? `approval ${spec.approval.quorum} of ${spec.approval.approvers.length}` : 'no approval';
  c.out(
    `${file}: valid runbook ${metadata.name} (${spec.environment}/${spec.service}): ${spec.steps.length} step(s), ${spec.verify.length} check(s), SLA ${durationText(spec.sla)}, ${approval}`,
  );
}
