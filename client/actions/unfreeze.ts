// `rearguard unfreeze start|status|advance|abort|approve`: ends a freeze gradually, environment by
// environment (workflow unfreeze:<freeze id>). Each command parses its options, calls api/unfreezes.ts
// and renders (client/render/unfreeze.ts). The command line is client/commands/unfreeze.ts.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { freezeIdOf, unfreezeWorkflowId } from '../../api/ids.js';
import { UNFREEZE_DECISIONS } from '../../api/messages.js';
import { decideUnfreeze, freezeToUnfreeze, startUnfreeze, unfreezeStatus } from '../../api/unfreezes.js';
import { DURATION_LIMITS, durationText } from '../../runbook/duration.js';
import { friendlyErrors, issueLines } from '../../runbook/issues.js';
import { parseYaml } from '../../runbook/load.js';
import { ACTOR, DNS1123_LABEL, ENV_VAR } from '../../runbook/names.js';
import { check as checkSchema, type Check, type NotifyTarget } from '../../runbook/schema.js';
import { ladderProblem, parseGate, unfreezeStartExtra, type UnfreezeInput } from '../../runbook/unfreeze.js';
import type { CliContext } from '../context.js';
import { envelope, signedBy, signIfKey } from '../decision-signing.js';
import { EXIT, CliError, badInput, parseOptions } from '../errors.js';
import { durationOption, freezeRef, list, reason as reasonText } from '../options.js';
import { renderUnfreeze } from '../render/unfreeze.js';
import { signDecisionOn } from './freeze.js';

const reason = reasonText;

async function readGates(file: string): Promise<Check[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw badInput(`--gates: cannot read ${file}: ${(err as Error).message}`);
  }
  const yaml = parseYaml(text);
  if (!yaml.ok) throw badInput(...yaml.problems.map((p) => `--gates: ${file}: ${p}`));
  const parsed = z.array(checkSchema).min(1, 'expected a list of checks').safeParse(yaml.value, { error: friendlyErrors });
  if (!parsed.success) throw badInput(...issueLines(parsed.error.issues).map((l) => `--gates: ${file}: ${l}`));
  return parsed.data;
}

export async function start(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const o = parseOptions(
    z
      .object({
        freeze: freezeRef,
        ladder: list(DNS1123_LABEL, 'an environment name in lowercase, such as prod'),
        soak: durationOption(DURATION_LIMITS.timeout),
        gate: z
          .array(
            z.string().transform((g, zc) => {
              const parsed = parseGate(g);
              if (typeof parsed !== 'string') return parsed;
              zc.addIssue({ code: 'custom', message: `${parsed}, got ${JSON.stringify(g)}` });
              return z.NEVER;
            }),
          )
          .default([]),
        gateHttp: z.array(z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' })).default([]),
        gates: z.string().min(1).optional(),
        interval: durationOption(DURATION_LIMITS.evaluation),
        approveEach: z.boolean().default(false),
        approvers: list(ACTOR, 'an approver name').optional(),
        notifyWebhook: z.array(z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' })).default([]),
        notifySlackEnv: z.array(z.string().regex(ENV_VAR, 'expected an environment variable name such as RELEASE_SLACK_WEBHOOK')).default([]),
        reason,
      })
      .refine((x) => new Set(x.ladder).size === x.ladder.length, { message: 'expected each environment once', path: ['ladder'] })
      .refine((x) => !x.approveEach || (x.approvers?.length ?? 0) > 0, { message: 'expected approvers with --approve-each', path: ['approvers'] })
      .refine((x) => x.approveEach || !x.approvers, { message: 'only meaningful with --approve-each', path: ['approvers'] }),
    raw,
  );
  const gates: Check[] = [...o.gate];
  for (const url of o.gateHttp) gates.push({ type: 'http', url, method: 'GET', expectStatus: 200, successes: 1, interval: 2_000, timeout: 10_000 });
  if (o.gates) gates.push(...(await readGates(o.gates)));
  if (o.approveEach && o.approvers!.every((a) => a === c.actor))
    throw badInput(`--approvers: you (${c.actor}) start this unfreeze and cannot approve it; name someone else`);
  const notify: NotifyTarget[] = [
    ...o.notifyWebhook.map((url, i) => ({ name: `webhook-${i + 1}`, type: 'webhook' as const, url, urlEnv: undefined })),
    ...o.notifySlackEnv.map((v, i) => ({ name: `slack-${i + 1}`, type: 'slack' as const, urlEnv: v })),
  ];

  const client = await c.connect();
  const freezeId = freezeIdOf(o.freeze);
  const freeze = await freezeToUnfreeze(client, freezeId);
  const problem = ladderProblem(freeze, o.ladder);
  if (problem) throw badInput(`--ladder: ${problem}`);
  const input: UnfreezeInput = {
    freezeId,
    ladder: o.ladder,
    soak: o.soak,
    interval: o.interval,
    gates,
    ...(o.approveEach ? { approveEach: true, approvers: o.approvers } : {}),
    ...(notify.length ? { notify } : {}),
    actor: c.actor,
    reason: o.reason,
  };
  // The worker judges the start (signature, the policy's unfreeze permission) before anything opens.
  const signed = await signIfKey(c, {
    action: UNFREEZE_DECISIONS.start,
    workflowId: unfreezeWorkflowId(freezeId),
    reason: o.reason,
    extra: async () => unfreezeStartExtra(input),
  });
  const { workflowId, status: s } = await startUnfreeze(client, c.opts.taskQueue, { ...input, ...envelope(signed) }, o.freeze);
  if (c.opts.json) return c.out(JSON.stringify(s));
  c.out(
    `Gradual unfreeze started${signedBy(signed)}: ${o.ladder.join(' -> ')}, soak ${durationText(o.soak)} each, ${gates.length} gate(s) every ${durationText(o.interval)} (workflow ${workflowId}).`,
  );
  const outside = freeze.scope.environments.filter((e) => !o.ladder.includes(e));
  if (outside.length) c.out(`Note: ${outside.join(', ')} (held by the freeze, not in the ladder) open only when the freeze is lifted at the end.`);
  c.out(`Follow it with: rearguard unfreeze status --freeze ${o.freeze}`);
}

export async function status(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const o = parseOptions(z.object({ freeze: freezeRef }), raw);
  const s = await unfreezeStatus(await c.connect(), freezeIdOf(o.freeze));
  if (c.opts.json) return c.out(JSON.stringify(s));
  renderUnfreeze(s).forEach((l) => c.out(l));
}

export async function decide(ctx: () => CliContext, name: 'advance' | 'abort' | 'approve', raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const o = parseOptions(z.object({ freeze: freezeRef, reason }), raw);
  const client = await c.connect();
  const freezeId = freezeIdOf(o.freeze);
  const signed = await signDecisionOn(c, client, { action: UNFREEZE_DECISIONS[name], workflowId: unfreezeWorkflowId(freezeId), reason: o.reason });
  const s = await decideUnfreeze(client, freezeId, name, { actor: c.actor, reason: o.reason, ...envelope(signed) });
  if (c.opts.json) return c.out(JSON.stringify(s));
  const env = s.currentEnvironment;
  if (name === 'abort') {
    const frozen = s.environments.filter((e) => e.state !== 'healthy' && e.state !== 'released').map((e) => e.environment);
    c.out(`Gradual unfreeze of ${s.freezeId} aborted by ${c.actor}${signedBy(signed)}. Still frozen: ${frozen.join(', ') || 'nothing'}.`);
  } else if (s.phase === 'soaking' && env) c.out(`${env} is open again and soaking for ${s.soak} (${name} by ${c.actor}${signedBy(signed)}).`);
  else c.out(`${name} accepted${signedBy(signed)}; the unfreeze is ${s.phase}.`);
  if (s.phase === 'freeze-ended' || s.phase === 'error') throw new CliError(EXIT.failed, renderUnfreeze(s));
}
