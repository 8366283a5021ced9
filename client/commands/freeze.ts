import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { parseDuration } from '../../runbook/duration.js';
import { freezeWorkflowId, type FreezeWindowInput } from '../../runbook/freeze.js';
import { ACTOR, DNS1123_LABEL, DNS1123_SUBDOMAIN } from '../../runbook/names.js';
import { duration } from '../../runbook/schema.js';
import type { freezeWindow } from '../../workflows/freeze.js';
import { approveExceptionUpdate, extendFreezeUpdate, freezeStateQuery, liftFreezeUpdate, requestExceptionUpdate } from '../../workflows/messages.js';
import type { CliContext } from '../context.js';
import { EXIT, CliError, badInput, failed, parseOptions, rootMessage } from '../errors.js';
import { checkGate, describeDecision, localTime, runningFreezes } from '../gate.js';
import { registerCalendar } from './calendar.js';
import { freezeIdOf, freezeRef, list } from '../options.js';

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
            duration: duration.optional(),
            tz: zone,
            reason: z.string().trim().min(1, 'expected a reason'),
            approvers: list(ACTOR, 'an approver name').optional(),
            quorum: z.coerce.number().int().min(1),
          })
          .refine((x) => (x.end === undefined) !== (x.duration === undefined), { message: 'expected exactly one of --end or --duration', path: ['end'] }),
        raw,
      );
      const start = instant(o.start, o.tz, '--start');
      const end = o.end ? instant(o.end, o.tz, '--end') : new Date(Date.parse(start) + parseDuration(o.duration!)).toISOString();
      if (Date.parse(end) <= Math.max(Date.parse(start), Date.now())) throw badInput(`--end: ${end} is not after the start and now`);
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
      const handle = await client.workflow.start<typeof freezeWindow>('freezeWindow', {
        workflowId: id,
        taskQueue: c.opts.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        memo: { actor: c.actor, reason: o.reason },
      });
      // Enforced as soon as we return: wait until the gate can see the window and it answers.
      const state = await handle.query(freezeStateQuery);
      for (let i = 0; i < 100 && !(await runningFreezes(client)).some((w) => w.id === id); i++) await new Promise((r) => setTimeout(r, 100));
      if (c.opts.json) return c.out(JSON.stringify(state));
      const again = state.actor !== c.actor || state.reason !== o.reason;
      c.out(
        `${again ? 'Freeze already exists' : 'Freeze started'}: ${state.name} (${state.scope.environments.join(',')} / ${state.scope.services.join(',')}) from ${localTime(state.start, o.tz)} until ${localTime(state.end, o.tz)}: ${state.reason}`,
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
          .object({ name: freezeRef, end: z.string().optional(), by: duration.optional(), tz: zone, reason: z.string().trim().min(1, 'expected a reason') })
          .refine((x) => (x.end === undefined) !== (x.by === undefined), { message: 'expected exactly one of --end or --by', path: ['end'] }),
        raw,
      );
      const id = freezeIdOf(o.name);
      const state = await update(
        c,
        id,
        async (client) => {
          const h = client.workflow.getHandle(id);
          const end = o.end ? instant(o.end, o.tz, '--end') : new Date(Date.parse((await h.query(freezeStateQuery)).end) + parseDuration(o.by!)).toISOString();
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
      const o = parseOptions(z.object({ name: freezeRef, reason: z.string().trim().min(1, 'expected a reason') }), raw);
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

  const show = (c: CliContext, s: Awaited<ReturnType<typeof runningFreezes>>[number]) =>
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
      const states = await runningFreezes(await c.connect());
      if (c.opts.json) return c.out(JSON.stringify(states));
      if (!states.length) return c.out('No freeze windows are running.');
      states.forEach((s) => show(c, s));
    });

  freeze
    .command('check')
    .description('The deploy gate: exit 0 if the change may deploy, 3 if a freeze blocks it')
    .requiredOption('--env <environment>', 'environment of the deploy')
    .requiredOption('--service <service>', 'service being deployed')
    .option('--change <id>', 'change ID, matched against approved exceptions')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(
        z.object({
          env: z.string().regex(DNS1123_LABEL, 'expected an environment name'),
          service: z.string().regex(DNS1123_LABEL, 'expected a service name'),
          change: z.string().min(1).optional(),
        }),
        raw,
      );
      let decision;
      try {
        decision = await checkGate(await c.connect(), { environment: o.env, service: o.service, change: o.change });
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw failed(`cannot check the freeze gate: ${rootMessage(err)}`);
      }
      if (c.opts.json) c.out(JSON.stringify(decision));
      else describeDecision(decision).forEach((l) => (decision.allowed ? c.out(l) : c.err(l)));
      if (!decision.allowed) throw new CliError(EXIT.frozen, []);
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
          reason: z.string().trim().min(1, 'expected a reason'),
          validFor: duration,
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
