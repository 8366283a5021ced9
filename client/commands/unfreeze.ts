// `rearguard unfreeze`: ends a freeze gradually, environment by environment (workflow unfreeze:<freeze id>).
import { readFile } from 'node:fs/promises';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { DURATION_LIMITS, durationText, formatDuration } from '../../runbook/duration.js';
import type { FreezeState } from '../../runbook/freeze.js';
import { friendlyErrors, issueLines } from '../../runbook/issues.js';
import { parseYaml } from '../../runbook/load.js';
import { ACTOR, DNS1123_LABEL, ENV_VAR } from '../../runbook/names.js';
import { check as checkSchema, type Check, type NotifyTarget } from '../../runbook/schema.js';
import { type UnfreezeDecision, type UnfreezeInput, type UnfreezeStatus } from '../../runbook/unfreeze.js';
import type { gradualUnfreeze } from '../../workflows/unfreeze.js';
import { abortUnfreezeUpdate, advanceUnfreezeUpdate, approveUnfreezeUpdate, freezeStateQuery, unfreezeStatusQuery } from '../../api/messages.js';
import type { CliContext } from '../context.js';
import { EXIT, CliError, badInput, failed, parseOptions, rootMessage } from '../errors.js';
import { localTime } from '../gate.js';
import { failIfWedged } from '../wedged.js';
import { wedgedLines, wedgedRun } from '../../api/wedged.js';
import { durationOption, freezeRef, list, reason as reasonText } from '../options.js';
import { freezeIdOf, unfreezeWorkflowId } from '../../api/ids.js';

const reason = reasonText;
const collect = (value: string, previous: string[] = []) => [...previous, value];

export const GATE_SYNTAX = "expected a Prometheus query, then < or > and a number, optionally `for` a duration: 'QUERY < 0.01' or 'QUERY > 100 for 2m'";

/**
 * `--gate 'QUERY < 0.01'`, `--gate 'QUERY > 5 for 2m'`: the last `<` or `>` followed only by a number
 * (and an optional `for DURATION`) splits the query from its threshold, so comparisons inside PromQL stay.
 */
export function parseGate(text: string): Check | string {
  const m = /^(.*?)\s*(<=|>=|==|!=|<|>)\s*(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*(?:\s+for\s+(\S+))?\s*$/is.exec(text);
  if (!m || !m[1].trim()) return GATE_SYNTAX;
  const [, query, op, threshold, forDuration] = m;
  if (op !== '<' && op !== '>') return `${op} is not supported: use < (the value must stay below) or > (must stay above)`;
  const parsed = checkSchema.safeParse(
    { type: 'prometheus', query: query.trim(), [op === '<' ? 'below' : 'above']: Number(threshold), ...(forDuration ? { for: forDuration } : {}) },
    { error: friendlyErrors },
  );
  return parsed.success ? parsed.data : issueLines(parsed.error.issues).join('; ');
}

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

/** Runs a client call against the unfreeze workflow, turning Temporal errors into CLI errors naming the freeze. */
async function call<T>(ctx: CliContext, freezeId: string, what: string, run: (h: WorkflowHandle) => Promise<T>): Promise<T> {
  const client = await ctx.connect();
  const id = unfreezeWorkflowId(freezeId);
  try {
    return await run(client.workflow.getHandle(id));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw failed(`no gradual unfreeze of ${freezeId} was found (start one with: rearguard unfreeze start --freeze ...)`);
    if (err instanceof WorkflowUpdateFailedError) throw failed(`${what} refused: ${rootMessage(err)}`);
    if (err instanceof CliError) throw err;
    const w = await wedgedRun(client, id).catch(() => undefined);
    if (w) throw failed(`${what} failed:`, ...wedgedLines(w));
    throw failed(`${what} failed: ${rootMessage(err)}`);
  }
}

/** Updates on a finished unfreeze fail with "workflow execution already completed": say what happened instead. */
async function decide(ctx: CliContext, freezeId: string, what: string, send: (h: WorkflowHandle) => Promise<UnfreezeStatus>): Promise<UnfreezeStatus> {
  return call(ctx, freezeId, what, async (h) => {
    const d = await h.describe();
    if (d.status.name !== 'RUNNING') {
      const s = await h.query(unfreezeStatusQuery).catch(() => undefined);
      throw failed(`${what} refused: the gradual unfreeze of ${freezeId} has ended (${s?.phase ?? d.status.name.toLowerCase()})`);
    }
    return send(h);
  });
}

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

async function freezeOf(client: Client, freezeId: string): Promise<FreezeState> {
  try {
    return await client.workflow.getHandle(freezeId).query(freezeStateQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw failed(`no freeze ${freezeId.replace(/^freeze:/, '')} was found (rearguard freeze list shows the running ones)`);
    throw failed(`cannot read freeze ${freezeId}: ${rootMessage(err)}`);
  }
}

export function registerUnfreeze(program: Command, ctx: () => CliContext): void {
  const unfreeze = program.command('unfreeze').description('End a freeze gradually: open one environment at a time, each after a soak with healthy gates');

  unfreeze
    .command('start')
    .description('Start the gradual unfreeze of a freeze (workflow unfreeze:<freeze id>)')
    .requiredOption('--freeze <name>', 'window name (black-friday) or freeze ID (freeze:black-friday)')
    .requiredOption('--ladder <list>', 'environments in the order they open, e.g. dev,staging,prod')
    .requiredOption('--soak <duration>', 'how long each environment must stay healthy, e.g. 30m')
    .option('--gate <expr>', "Prometheus gate, repeatable: 'QUERY < 0.01' or 'QUERY > 100 [for 2m]'; $environment in QUERY is each environment", collect)
    .option('--gate-http <url>', 'http gate, repeatable: the URL must answer 200 (within 10s); $environment in the URL is each environment', collect)
    .option('--gates <file>', "YAML list of checks in the runbook's verify format (prometheus, http, kubernetesAvailable)")
    .option('--interval <duration>', 'how often the gates are evaluated during a soak', '30s')
    .option('--approve-each', 'each environment after the first waits for an approver')
    .option('--approvers <list>', 'who may approve (with --approve-each), comma-separated')
    .option('--notify-webhook <url>', 'told about failed gates, approvals needed, the end; repeatable', collect)
    .option('--notify-slack-env <VAR>', 'Slack incoming webhook, by the name of a worker environment variable holding its URL; repeatable', collect)
    .requiredOption('--reason <text>', 'why now: kept in the audit trail')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(
        z
          .object({
            freeze: freezeRef,
            ladder: list(DNS1123_LABEL, 'an environment name'),
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
      const freeze = await freezeOf(client, freezeId);
      if (freeze.phase !== 'active' && freeze.phase !== 'scheduled')
        throw failed(`freeze ${freeze.name} has ${freeze.phase === 'lifted' ? 'been lifted' : 'ended'}: there is nothing to unfreeze`);
      const missing = o.ladder.filter((e) => !freeze.scope.environments.includes(e) && !(freeze.released ?? []).includes(e));
      if (missing.length)
        throw badInput(
          `--ladder: freeze ${freeze.name} does not hold ${missing.join(', ')} (holds: ${freeze.scope.environments.join(', ') || 'nothing'}${freeze.released?.length ? `; already open: ${freeze.released.join(', ')}` : ''})`,
        );
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
      let handle: WorkflowHandle<typeof gradualUnfreeze>;
      try {
        handle = await client.workflow.start<typeof gradualUnfreeze>('gradualUnfreeze', {
          workflowId: unfreezeWorkflowId(freezeId),
          taskQueue: c.opts.taskQueue,
          args: [input],
          workflowIdConflictPolicy: 'FAIL',
          memo: { actor: c.actor, reason: o.reason },
        });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError)
          throw failed(`a gradual unfreeze of ${freezeId} is already running: rearguard unfreeze status --freeze ${o.freeze}`);
        throw failed(`cannot start the unfreeze: ${rootMessage(err)}`);
      }
      const s = await handle.query(unfreezeStatusQuery);
      if (c.opts.json) return c.out(JSON.stringify(s));
      c.out(
        `Gradual unfreeze started: ${o.ladder.join(' -> ')}, soak ${durationText(o.soak)} each, ${gates.length} gate(s) every ${durationText(o.interval)} (workflow ${handle.workflowId}).`,
      );
      const outside = freeze.scope.environments.filter((e) => !o.ladder.includes(e));
      if (outside.length) c.out(`Note: ${outside.join(', ')} (held by the freeze, not in the ladder) open only when the freeze is lifted at the end.`);
      c.out(`Follow it with: rearguard unfreeze status --freeze ${o.freeze}`);
    });

  unfreeze
    .command('status')
    .description("Each environment's state (frozen, soaking with time left, healthy, failed, released), the step, the last gate results")
    .requiredOption('--freeze <name>', 'window name or freeze ID')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(z.object({ freeze: freezeRef }), raw);
      // A wedged unfreeze answers no Query: say so at once instead of timing out.
      await failIfWedged(await c.connect(), unfreezeWorkflowId(freezeIdOf(o.freeze)), 'read the status of');
      const s = await call(c, freezeIdOf(o.freeze), 'status', (h) => h.query(unfreezeStatusQuery));
      if (c.opts.json) return c.out(JSON.stringify(s));
      renderUnfreeze(s).forEach((l) => c.out(l));
    });

  const decision = (name: 'advance' | 'abort' | 'approve', description: string, reasonRequired: boolean) => {
    const cmd = unfreeze.command(name).description(description).requiredOption('--freeze <name>', 'window name or freeze ID');
    if (reasonRequired) cmd.requiredOption('--reason <text>', 'why (kept in the audit trail)');
    else cmd.option('--reason <text>', 'why (kept in the audit trail)', 'approved');
    cmd.action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(z.object({ freeze: freezeRef, reason }), raw);
      const d: UnfreezeDecision = { actor: c.actor, reason: o.reason };
      const update = { advance: advanceUnfreezeUpdate, abort: abortUnfreezeUpdate, approve: approveUnfreezeUpdate }[name];
      const s = await decide(c, freezeIdOf(o.freeze), name, (h) => h.executeUpdate(update, { args: [d] }));
      if (c.opts.json) return c.out(JSON.stringify(s));
      const env = s.currentEnvironment;
      if (name === 'abort') {
        const frozen = s.environments.filter((e) => e.state !== 'healthy' && e.state !== 'released').map((e) => e.environment);
        c.out(`Gradual unfreeze of ${s.freezeId} aborted by ${c.actor}. Still frozen: ${frozen.join(', ') || 'nothing'}.`);
      } else if (s.phase === 'soaking' && env) c.out(`${env} is open again and soaking for ${s.soak} (${name} by ${c.actor}).`);
      else c.out(`${name} accepted; the unfreeze is ${s.phase}.`);
      if (s.phase === 'freeze-ended' || s.phase === 'error') throw new CliError(EXIT.failed, renderUnfreeze(s));
    });
  };
  decision('advance', 'After a failed gate and a fix: open the failed environment again and soak it again', true);
  decision('abort', 'Stop the ladder: the environments not yet open stay frozen', true);
  decision('approve', 'Let the next environment open (with --approve-each; approvers only, not the requester)', false);
}
