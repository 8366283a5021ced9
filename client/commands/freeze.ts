import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { DURATION_LIMITS } from '../../runbook/duration.js';
import { freezeTimeProblem, type FreezeState, type FreezeWindowInput } from '../../runbook/freeze.js';
import { wedgedLines, wedgedRun } from '../../api/wedged.js';
import { ACTOR, DNS1123_LABEL, DNS1123_SUBDOMAIN } from '../../runbook/names.js';
import type { freezeWindow } from '../../workflows/freeze.js';
import { approveExceptionUpdate, extendFreezeUpdate, freezeStateQuery, liftFreezeUpdate, requestExceptionUpdate } from '../../api/messages.js';
import type { CliContext } from '../context.js';
import { EXIT, CliError, badInput, failed, parseOptions, rootMessage } from '../errors.js';
import { checkGate, describeDecision, localTime, readFreezes, waitUntilGateSees, type GateAnswer } from '../gate.js';
import { registerCalendar } from './calendar.js';
import { durationOption, freezeRef, list, reason as reasonText } from '../options.js';
import { freezeIdOf, freezeWorkflowId } from '../../api/ids.js';

/** --duration, --by, --valid-for: a freeze (and an exception to one) lasts at most 366d. */
const freezeDuration = durationOption(DURATION_LIMITS.freeze);

const zone = z.string().refine((tz) => DateTime.local().setZone(tz).isValid, 'expected an IANA time zone such as America/New_York');
const name = z.string().regex(DNS1123_SUBDOMAIN, 'expected a DNS-1123 name such as black-friday');

/** A time as people write it ("2026-11-26T00:00", in --tz) or "now"; returns ISO UTC. */
function instant(text: string, tz: string, flag: string): string {
  if (text === 'now') return new Date().toISOString();
  const t = DateTime.fromISO(text, { zone: tz });
  if (!t.isValid) throw badInput(`${flag}: expected a date and time like 2026-11-26T00:00 (in ${tz}), got ${JSON.stringify(text)}`);
  return t.toUTC().toISO()!;
}

async function update<T>(ctx: CliContext, id: string, run: (client: Client) => Promise<T>, what: string): Promise<T> {
  const client = await ctx.connect();
  // A wedged window answers no Query and handles no Update: say so at once instead of timing out.
  const wedged = await wedgedRun(client, id).catch(() => undefined);
  if (wedged) throw failed(`cannot ${what} freeze ${id.slice(7)}:`, ...wedgedLines(wedged));
  try {
    return await run(client);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      const d = await client.workflow
        .getHandle(id)
        .describe()
        .catch(() => undefined);
      throw failed(
        d
          ? `freeze ${id.slice(7)} is no longer running (${d.status.name.toLowerCase()} at ${d.closeTime?.toISOString() ?? '?'}): nothing to ${what}`
          : `no freeze ${id.slice(7)} was found`,
      );
    }
    if (err instanceof WorkflowUpdateFailedError) throw failed(`${what} refused: ${rootMessage(err)}`);
    throw failed(`${what} failed: ${rootMessage(err)}`);
  }
}

export interface StartDifference {
  setting: 'environments' | 'services' | 'start' | 'end' | 'exception approvers';
  running: string;
  asked: string;
}

/** How a `freeze start` for a name that is already running differs from that window (nothing: the same request). */
export function startDifferences(
  state: FreezeState,
  asked: {
    environments: string[];
    services: string[];
    /** Only when --start was given. */
    start?: string;
    end: string;
    /** The end the running window was started with (it may have been extended since). */
    originalEnd?: string;
    /** Only when --approvers was given. */
    exceptions?: { approvers: string[]; quorum: number };
  },
): StartDifference[] {
  const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x)) && b.every((x) => a.includes(x));
  const sameTime = (a: string, b: string) => Math.abs(Date.parse(a) - Date.parse(b)) < 1000;
  const out: StartDifference[] = [];
  // Environments a gradual unfreeze has released are still the window's own.
  const environments = [...state.scope.environments, ...(state.released ?? [])];
  if (!sameSet(environments, asked.environments))
    out.push({ setting: 'environments', running: environments.join(',') || '(none left)', asked: asked.environments.join(',') });
  if (!sameSet(state.scope.services, asked.services))
    out.push({ setting: 'services', running: state.scope.services.join(','), asked: asked.services.join(',') });
  if (asked.start && !sameTime(state.start, asked.start)) out.push({ setting: 'start', running: state.start, asked: asked.start });
  if (!sameTime(state.end, asked.end) && !(asked.originalEnd && sameTime(asked.originalEnd, asked.end)))
    out.push({ setting: 'end', running: state.end, asked: asked.end });
  if (asked.exceptions && (!sameSet(state.approvers, asked.exceptions.approvers) || state.quorum !== asked.exceptions.quorum))
    out.push({
      setting: 'exception approvers',
      running: `${state.approvers.join(',') || 'none'} (quorum ${state.quorum})`,
      asked: `${asked.exceptions.approvers.join(',')} (quorum ${asked.exceptions.quorum})`,
    });
  return out;
}

export function registerFreeze(program: Command, ctx: () => CliContext): void {
  const freeze = program.command('freeze').description('Release freezes: start, extend, lift, exceptions, and the deploy gate');

  freeze
    .command('start')
    .description('Freeze deploys for environments/services until an end time (idempotent by --name)')
    .requiredOption('--name <name>', 'window name, e.g. black-friday (the workflow is freeze:<name>)')
    .requiredOption('--env <list>', 'environments, comma-separated, or *')
    .option('--service <list>', 'services, comma-separated, or * (default)', '*')
    .option('--start <time>', 'when it starts, e.g. 2026-11-26T00:00 in --tz (default now)', 'now')
    .option('--end <time>', 'when it ends, e.g. 2026-12-01T08:00 in --tz')
    .option('--duration <d>', 'or how long it lasts from its start, e.g. 3d')
    .option('--tz <zone>', 'IANA time zone of --start/--end', Intl.DateTimeFormat().resolvedOptions().timeZone)
    .requiredOption('--reason <text>', 'why: shown by the gate and kept in the audit trail')
    .option('--approvers <list>', 'who may approve exceptions, comma-separated')
    .option('--quorum <n>', 'approvals an exception needs', '1')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(
        z
          .object({
            name,
            env: list(/^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/, 'an environment name or *'),
            service: list(/^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/, 'a service name or *'),
            start: z.string(),
            end: z.string().optional(),
            duration: freezeDuration.optional(),
            tz: zone,
            reason: reasonText,
            approvers: list(ACTOR, 'an approver name').optional(),
            quorum: z.coerce.number().int().min(1),
          })
          .refine((x) => (x.end === undefined) !== (x.duration === undefined), { message: 'expected exactly one of --end or --duration', path: ['end'] }),
        raw,
      );
      const start = instant(o.start, o.tz, '--start');
      if (Date.parse(start) - Date.now() > DURATION_LIMITS.freeze.max)
        throw badInput(`--start: ${freezeTimeProblem(Date.parse(start), Date.parse(start), Date.now())}`);
      const end = o.end ? instant(o.end, o.tz, '--end') : new Date(Date.parse(start) + o.duration!).toISOString();
      if (Date.parse(end) <= Math.max(Date.parse(start), Date.now())) throw badInput(`--end: ${end} is not after the start and now`);
      const tooLong = freezeTimeProblem(Date.parse(start), Date.parse(end), Date.now());
      if (tooLong) throw badInput(`${o.end ? '--end' : '--duration'}: ${tooLong}`);
      if ((o.approvers?.length ?? 0) < o.quorum && o.approvers) throw badInput(`--quorum: ${o.quorum} is larger than the ${o.approvers.length} approver(s)`);
      const input: FreezeWindowInput = {
        name: o.name,
        scope: { environments: o.env, services: o.service },
        reason: o.reason,
        actor: c.actor,
        start,
        end,
        timezone: o.tz,
        exceptions: { approvers: o.approvers ?? [], quorum: o.quorum },
      };
      const client = await c.connect();
      const id = freezeWorkflowId(o.name);
      const requestId = randomUUID();
      const handle = await client.workflow.start<typeof freezeWindow>('freezeWindow', {
        workflowId: id,
        taskQueue: c.opts.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        // requestId tells this start from an existing window; end is the end it was started with (extend moves the state's).
        memo: { actor: c.actor, reason: o.reason, requestId, end },
      });
      const described = await handle.describe();
      const memo = described.memo as { requestId?: string; end?: string } | undefined;
      const started = memo?.requestId === requestId;
      const wedged = started ? undefined : await wedgedRun(client, id, described);
      if (wedged) throw failed(`a freeze named ${o.name} is already running, and it is wedged: nothing was changed.`, ...wedgedLines(wedged));
      // Enforced as soon as we return: wait until the gate can see the window and it answers.
      const state = await handle.query(freezeStateQuery);
      if (started) await waitUntilGateSees(client, [id]);
      const differences = started
        ? []
        : startDifferences(state, {
            environments: o.env,
            services: o.service,
            start: o.start === 'now' ? undefined : start,
            // A duration counts from the window's own start when no --start is given: the same command run again asks for the same window.
            end: o.end ? end : new Date((o.start === 'now' ? Date.parse(state.start) : Date.parse(start)) + o.duration!).toISOString(),
            originalEnd: memo?.end,
            exceptions: o.approvers ? { approvers: o.approvers, quorum: o.quorum } : undefined,
          });
      if (differences.length > 0) {
        const show = (d: StartDifference) => (d.setting === 'start' || d.setting === 'end' ? (v: string) => localTime(v, o.tz) : (v: string) => v);
        const endDiff = differences.find((d) => d.setting === 'end');
        const askedEnd = DateTime.fromISO(endDiff?.asked ?? end, { zone: o.tz }).toFormat("yyyy-LL-dd'T'HH:mm");
        throw failed(
          `freeze ${o.name} is already running with different settings; nothing was changed:`,
          ...differences.map((d) => `  ${d.setting}: running ${show(d)(d.running)}, you asked for ${show(d)(d.asked)}`),
          ...(endDiff && Date.parse(endDiff.asked) > Date.parse(endDiff.running)
            ? [`To move its end: rearguard freeze extend --name ${o.name} --end ${askedEnd} --tz ${o.tz} --reason "..."`]
            : endDiff
              ? [`An end cannot move earlier: lift it (rearguard freeze lift --name ${o.name} --reason "...") and start a new one.`]
              : []),
          ...(differences.some((d) => d.setting !== 'end')
            ? [`To freeze other environments or services, or with other settings, use a new name: rearguard freeze start --name <ANOTHER-NAME> ...`]
            : []),
        );
      }
      if (c.opts.json) return c.out(JSON.stringify(state));
      const window = `${state.name} (${state.scope.environments.join(',')} / ${state.scope.services.join(',')}) from ${localTime(state.start, o.tz)} until ${localTime(state.end, o.tz)}`;
      c.out(
        started
          ? `Freeze started: ${window}: ${state.reason}`
          : `Freeze ${state.name} is already running with the same settings: ${window}: ${state.reason} (started by ${state.actor}; nothing was changed)`,
      );
    });

  freeze
    .command('extend')
    .description('Move the end of a freeze later')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .option('--end <time>', 'new end, in --tz')
    .option('--by <duration>', 'or extend by this much, e.g. 1d')
    .option('--tz <zone>', 'IANA time zone of --end', Intl.DateTimeFormat().resolvedOptions().timeZone)
    .requiredOption('--reason <text>', 'why')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(
        z
          .object({ name: freezeRef, end: z.string().optional(), by: freezeDuration.optional(), tz: zone, reason: reasonText })
          .refine((x) => (x.end === undefined) !== (x.by === undefined), { message: 'expected exactly one of --end or --by', path: ['end'] }),
        raw,
      );
      const id = freezeIdOf(o.name);
      const state = await update(
        c,
        id,
        async (client) => {
          const h = client.workflow.getHandle(id);
          const end = o.end ? instant(o.end, o.tz, '--end') : new Date(Date.parse((await h.query(freezeStateQuery)).end) + o.by!).toISOString();
          return h.executeUpdate(extendFreezeUpdate, { args: [{ actor: c.actor, reason: o.reason, end }] });
        },
        'extend',
      );
      c.out(c.opts.json ? JSON.stringify(state) : `Freeze ${state.name} now ends ${localTime(state.end, o.tz)}.`);
    });

  freeze
    .command('lift')
    .description('End a freeze now')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .requiredOption('--reason <text>', 'why')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(z.object({ name: freezeRef, reason: reasonText }), raw);
      const id = freezeIdOf(o.name);
      const state = await update(
        c,
        id,
        (client) => client.workflow.getHandle(id).executeUpdate(liftFreezeUpdate, { args: [{ actor: c.actor, reason: o.reason }] }),
        'lift',
      );
      await (
        await c.connect()
      ).workflow
        .getHandle(id)
        .result()
        .catch(() => undefined);
      c.out(c.opts.json ? JSON.stringify(state) : `Freeze ${state.name} lifted by ${c.actor}.`);
    });

  const show = (c: CliContext, s: FreezeState) =>
    c.out(
      `${s.name.padEnd(20)} ${s.phase.padEnd(9)} ${s.scope.environments.join(',')}/${s.scope.services.join(',')}  until ${localTime(s.end)}  ${s.reason} (by ${s.actor})${s.exceptions.length ? `  exceptions: ${s.exceptions.map((e) => `${e.changeId}=${e.status}`).join(', ')}` : ''}${s.released?.length ? `  released: ${s.released.join(',')}` : ''}${s.guardrails ? `  guardrails: ${s.guardrails.restored ? 'restored' : s.guardrails.applied ? 'held' : 'not applied'} (${s.guardrails.changes.length} change(s))` : ''}${s.calendar ? `  calendar: ${s.calendar.name}` : ''}`,
    );

  freeze
    .command('status')
    .description('Show one freeze window')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(z.object({ name: freezeRef }), raw);
      const s = await update(c, freezeIdOf(o.name), (client) => client.workflow.getHandle(freezeIdOf(o.name)).query(freezeStateQuery), 'show');
      if (c.opts.json) c.out(JSON.stringify(s));
      else show(c, s);
    });

  freeze
    .command('list')
    .description('List running freeze windows')
    .action(async () => {
      const c = ctx();
      let snapshot;
      try {
        snapshot = await readFreezes(await c.connect());
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw failed(`cannot list the running freezes: ${rootMessage(err)}`);
      }
      const { states, unreadable } = snapshot;
      if (c.opts.json) c.out(JSON.stringify(states));
      else if (!states.length && !unreadable.length) c.out('No freeze windows are running.');
      else states.forEach((s) => show(c, s));
      // Running windows that could not be read are shown too, and make the listing a failure: it is incomplete.
      if (unreadable.length) throw failed(`${unreadable.length} running freeze(s) could not be read:`, ...unreadable.map((u) => `  ${u.id}: ${u.error}`));
    });

  freeze
    .command('check')
    .description('The deploy gate: exit 0 if the change may deploy, 3 if a freeze blocks it, 1 if it cannot tell (a running freeze cannot be read)')
    .requiredOption('--env <environment>', 'environment of the deploy')
    .requiredOption('--service <service>', 'service being deployed')
    .option('--change <id>', 'change ID, matched against approved exceptions')
    .option('--fail-open', 'allow (exit 0, with a warning) when a running freeze cannot be read, instead of exit 1')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(
        z.object({
          env: z.string().regex(DNS1123_LABEL, 'expected an environment name'),
          service: z.string().regex(DNS1123_LABEL, 'expected a service name'),
          change: z.string().min(1).optional(),
          failOpen: z.boolean().optional(),
        }),
        raw,
      );
      const q = { environment: o.env, service: o.service, ...(o.change ? { change: o.change } : {}) };
      let decision: GateAnswer;
      try {
        decision = await checkGate(await c.connect(), q, { failOpen: o.failOpen });
      } catch (err) {
        // Temporal cannot be reached at all: as unknown as an unreadable freeze.
        const why = err instanceof CliError ? err.lines.join(' ') : rootMessage(err);
        if (!o.failOpen)
          throw failed(
            `UNKNOWN: cannot check the freeze gate for ${o.env}/${o.service}: ${why}`,
            'The gate fails closed; to deploy anyway, ask again with --fail-open (logged).',
          );
        decision = {
          ...q,
          allowed: true,
          blockedBy: [],
          exceptedBy: [],
          result: 'allowed',
          unreadable: [{ id: '*', kind: 'list', error: why }],
          failedOpen: true,
        };
      }
      if (decision.failedOpen)
        c.err(
          `rearguard: warning: the freeze gate failed open for ${o.env}/${o.service}${o.change ? ` change ${o.change}` : ''} (--fail-open, by ${c.actor}): ${decision.unreadable.map((u) => `${u.id}: ${u.error}`).join('; ')}`,
        );
      if (c.opts.json) c.out(JSON.stringify(decision));
      else describeDecision(decision).forEach((l) => (decision.result === 'allowed' ? c.out(l) : c.err(l)));
      if (decision.result === 'frozen') throw new CliError(EXIT.frozen, []);
      if (decision.result === 'unknown') throw new CliError(EXIT.failed, []);
    });

  const exception = freeze.command('exception').description('Exceptions to a freeze for a specific change (e.g. a bug fix)');
  exception
    .command('request')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .requiredOption('--change <id>', 'change ID (PR, commit, ticket) the exception is for')
    .requiredOption('--reason <text>', 'why this change cannot wait')
    .option('--valid-for <duration>', 'how long an approved exception lasts', '4h')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(
        z.object({
          name: freezeRef,
          change: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._#/:-]*$/, 'expected a change ID such as PR-1234'),
          reason: reasonText,
          validFor: freezeDuration,
        }),
        raw,
      );
      const id = freezeIdOf(o.name);
      const e = await update(
        c,
        id,
        (client) =>
          client.workflow
            .getHandle(id)
            .executeUpdate(requestExceptionUpdate, { args: [{ actor: c.actor, reason: o.reason, changeId: o.change, validFor: o.validFor }] }),
        'request an exception',
      );
      c.out(
        c.opts.json
          ? JSON.stringify(e)
          : `Exception for ${e.changeId} requested; an approver runs: rearguard freeze exception approve --name ${o.name} --change ${e.changeId}`,
      );
    });
  exception
    .command('approve')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .requiredOption('--change <id>', 'change ID')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(z.object({ name: freezeRef, change: z.string().min(1) }), raw);
      const id = freezeIdOf(o.name);
      const e = await update(
        c,
        id,
        (client) => client.workflow.getHandle(id).executeUpdate(approveExceptionUpdate, { args: [{ actor: c.actor, changeId: o.change }] }),
        'approve the exception',
      );
      c.out(
        c.opts.json
          ? JSON.stringify(e)
          : `Exception for ${e.changeId}: ${e.status} (${e.approvals.length} approval(s)), valid until ${localTime(e.validUntil)}.`,
      );
    });

  registerCalendar(freeze, ctx);
}
