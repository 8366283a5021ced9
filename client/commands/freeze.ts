// `rearguard freeze start|extend|lift|status|list|check|exception`: release freezes. Each command parses
// its options, calls the freeze operations of api/freezes.ts and renders (client/render/freeze.ts).
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { DateTime } from 'luxon';
import { z } from 'zod';
import {
  approveFreezeException,
  checkGate,
  extendFreeze,
  firstRunOf,
  freezeState,
  liftFreeze,
  listFreezes,
  rejectFreezeException,
  requestFreezeException,
  startFreeze,
} from '../../api/freezes.js';
import { freezeIdOf, freezeWorkflowId } from '../../api/ids.js';
import { FREEZE_DECISIONS } from '../../api/messages.js';
import { DURATION_LIMITS } from '../../runbook/duration.js';
import { freezeStartExtra, freezeTimeProblem, startDifferences, type FreezeWindowInput } from '../../runbook/freeze.js';
import { unreachableFailedOpen, type GateAnswer } from '../../runbook/gate.js';
import { ACTOR, DNS1123_LABEL, DNS1123_SUBDOMAIN } from '../../runbook/names.js';
import type { CliContext } from '../context.js';
import { envelope, signedBy, signIfKey } from '../decision-signing.js';
import { EXIT, CliError, badInput, failed, parseOptions, rootMessage } from '../errors.js';
import { changeId, durationOption, freezeRef, list, reason as reasonText, wholeNumber } from '../options.js';
import {
  describeDecision,
  differenceLines,
  exceptionApprovedLine,
  exceptionRejectedLine,
  failedOpenWarning,
  freezeLine,
  localTime,
  startedLine,
  unreadableLines,
} from '../render/freeze.js';
import { registerCalendar } from './calendar.js';

/** --duration, --by, --valid-for: a freeze (and an exception to one) lasts at most 366d. */
const freezeDuration = durationOption(DURATION_LIMITS.freeze);

const zone = z.string().refine((tz) => DateTime.local().setZone(tz).isValid, 'expected an IANA time zone such as America/New_York');
const name = z.string().regex(DNS1123_SUBDOMAIN, 'expected a DNS-1123 name such as black-friday');

/**
 * Signs a decision on a running freeze or gradual unfreeze when a key is configured (--signing-key, ...): bound
 * to its chain of runs (extra.firstRun, read only when signing) and to `extra` (api/messages.ts FREEZE_DECISIONS).
 */
export const signDecisionOn = (c: CliContext, client: Client, d: { action: string; workflowId: string; reason: string; extra?: Record<string, string> }) =>
  signIfKey(c, { ...d, extra: async () => ({ firstRun: await firstRunOf(client, d.workflowId), ...d.extra }) });

/** A time as people write it ("2026-11-26T00:00", in --tz) or "now"; returns ISO UTC. */
function instant(text: string, tz: string, flag: string): string {
  if (text === 'now') return new Date().toISOString();
  const t = DateTime.fromISO(text, { zone: tz });
  if (!t.isValid) throw badInput(`${flag}: expected a date and time like 2026-11-26T00:00 (in ${tz}), got ${JSON.stringify(text)}`);
  return t.toUTC().toISO()!;
}

export function registerFreeze(program: Command, ctx: () => CliContext): void {
  const freeze = program.command('freeze').description('Release freezes: start, extend, lift, exceptions, and the deploy gate');

  freeze
    .command('start')
    .description('Freeze deploys for environments/services until an end time (idempotent by --name)')
    .requiredOption('--name <name>', 'window name, e.g. black-friday (the workflow is freeze:<name>)')
    .requiredOption('--env <list>', 'environments, comma-separated, or *')
    .option('--service <list>', 'services, comma-separated, or * for all', '*')
    .option('--start <time>', 'when it starts, e.g. 2026-11-26T00:00 in --tz, or now', 'now')
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
            quorum: wholeNumber(1, 100),
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
      // The worker judges the start before it takes effect: a refused one is an error, never "started".
      const signed = await signIfKey(c, {
        action: FREEZE_DECISIONS.start,
        workflowId: freezeWorkflowId(o.name),
        reason: o.reason,
        extra: async () => freezeStartExtra(input),
      });
      const { state, started, originalEnd } = await startFreeze(await c.connect(), c.opts.taskQueue, { ...input, ...envelope(signed) });
      const differences = started
        ? []
        : startDifferences(state, {
            environments: o.env,
            services: o.service,
            start: o.start === 'now' ? undefined : start,
            // A duration counts from the window's own start when no --start is given: the same command run again asks for the same window.
            end: o.end ? end : new Date((o.start === 'now' ? Date.parse(state.start) : Date.parse(start)) + o.duration!).toISOString(),
            originalEnd,
            exceptions: o.approvers ? { approvers: o.approvers, quorum: o.quorum } : undefined,
          });
      if (differences.length > 0) throw failed(...differenceLines(o.name, differences, end, o.tz));
      c.out(c.opts.json ? JSON.stringify(state) : `${startedLine(state, started, o.tz)}${started ? signedBy(signed) : ''}`);
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
      // The new end is known before signing (a signed extension names it): --by counts from the end the freeze has now.
      const newEnd = o.end ? instant(o.end, o.tz, '--end') : undefined;
      const client = await c.connect();
      const id = freezeIdOf(o.name);
      const end = newEnd ?? new Date(Date.parse((await freezeState(client, id)).end) + o.by!).toISOString();
      const signed = await signDecisionOn(c, client, { action: FREEZE_DECISIONS.extend, workflowId: id, reason: o.reason, extra: { end } });
      const state = await extendFreeze(client, id, { actor: c.actor, reason: o.reason, ...envelope(signed) }, () => end);
      c.out(c.opts.json ? JSON.stringify(state) : `Freeze ${state.name} now ends ${localTime(state.end, o.tz)}${signedBy(signed)}.`);
    });

  freeze
    .command('lift')
    .description('End a freeze now')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .requiredOption('--reason <text>', 'why')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(z.object({ name: freezeRef, reason: reasonText }), raw);
      const client = await c.connect();
      const id = freezeIdOf(o.name);
      const signed = await signDecisionOn(c, client, { action: FREEZE_DECISIONS.lift, workflowId: id, reason: o.reason });
      const state = await liftFreeze(client, id, { actor: c.actor, reason: o.reason, ...envelope(signed) });
      c.out(c.opts.json ? JSON.stringify(state) : `Freeze ${state.name} lifted by ${c.actor}${signedBy(signed)}.`);
    });

  freeze
    .command('status')
    .description('Show one freeze window')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(z.object({ name: freezeRef }), raw);
      const s = await freezeState(await c.connect(), freezeIdOf(o.name));
      c.out(c.opts.json ? JSON.stringify(s) : freezeLine(s));
    });

  freeze
    .command('list')
    .description('List running freeze windows')
    .action(async () => {
      const c = ctx();
      const { states, unreadable } = await listFreezes(await c.connect());
      if (c.opts.json) c.out(JSON.stringify(states));
      else if (!states.length && !unreadable.length) c.out('No freeze windows are running.');
      else states.forEach((s) => c.out(freezeLine(s)));
      // Running windows that could not be read are shown too, and make the listing a failure: it is incomplete.
      if (unreadable.length) throw failed(`${unreadable.length} running freeze(s) could not be read:`, ...unreadableLines(unreadable));
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
          env: z.string().regex(DNS1123_LABEL, 'expected an environment name in lowercase, such as prod (a DNS-1123 label)'),
          service: z.string().regex(DNS1123_LABEL, 'expected a service name in lowercase, such as payments (a DNS-1123 label)'),
          change: changeId.optional(),
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
        decision = unreachableFailedOpen(q, why);
      }
      if (decision.failedOpen) c.err(failedOpenWarning(decision, c.actor));
      if (c.opts.json) c.out(JSON.stringify(decision));
      else describeDecision(decision).forEach((l) => (decision.result === 'allowed' ? c.out(l) : c.err(l)));
      if (decision.result === 'frozen') throw new CliError(EXIT.frozen, []);
      if (decision.result === 'unknown') throw new CliError(EXIT.failed, []);
    });

  const exception = freeze.command('exception').description('Exceptions to a freeze for a specific change (e.g. a bug fix)');
  exception
    .command('request')
    .description('Ask for an exception for one change (PR, commit, ticket): once approved, the gate lets it through for --valid-for')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .requiredOption('--change <id>', 'change ID (PR, commit, ticket) the exception is for')
    .requiredOption('--reason <text>', 'why this change cannot wait')
    .option('--valid-for <duration>', 'how long an approved exception lasts', '4h')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(
        z.object({
          name: freezeRef,
          change: changeId,
          reason: reasonText,
          validFor: freezeDuration,
        }),
        raw,
      );
      const client = await c.connect();
      const id = freezeIdOf(o.name);
      const signed = await signDecisionOn(c, client, {
        action: FREEZE_DECISIONS.requestException,
        workflowId: id,
        reason: o.reason,
        extra: { change: o.change, validFor: String(o.validFor) },
      });
      const e = await requestFreezeException(client, id, { actor: c.actor, reason: o.reason, changeId: o.change, validFor: o.validFor, ...envelope(signed) });
      c.out(
        c.opts.json
          ? JSON.stringify(e)
          : `Exception for ${e.changeId} requested${signedBy(signed)}; an approver runs: rearguard freeze exception approve --name ${o.name} --change ${e.changeId}`,
      );
    });
  exception
    .command('approve')
    .description("Approve a requested exception (one of the freeze's exception approvers, not the requester)")
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .requiredOption('--change <id>', 'change ID')
    .requiredOption('--reason <text>', 'why this change may go out during the freeze: kept in the audit trail')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(z.object({ name: freezeRef, change: changeId, reason: reasonText }), raw);
      const client = await c.connect();
      const id = freezeIdOf(o.name);
      const signed = await signDecisionOn(c, client, {
        action: FREEZE_DECISIONS.approveException,
        workflowId: id,
        reason: o.reason,
        extra: { change: o.change },
      });
      const e = await approveFreezeException(client, id, { actor: c.actor, changeId: o.change, reason: o.reason, ...envelope(signed) });
      c.out(c.opts.json ? JSON.stringify(e) : `${exceptionApprovedLine(e)}${signed ? ` Signed with key ${signed.fingerprint}.` : ''}`);
    });
  exception
    .command('reject')
    .description('Turn down a requested exception, or revoke an approved one (an exception approver, or the requester withdrawing it)')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .requiredOption('--change <id>', 'change ID')
    .requiredOption('--reason <text>', 'why: kept in the audit trail and told to the requester')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(z.object({ name: freezeRef, change: changeId, reason: reasonText }), raw);
      const client = await c.connect();
      const id = freezeIdOf(o.name);
      const signed = await signDecisionOn(c, client, {
        action: FREEZE_DECISIONS.rejectException,
        workflowId: id,
        reason: o.reason,
        extra: { change: o.change },
      });
      const e = await rejectFreezeException(client, id, { actor: c.actor, changeId: o.change, reason: o.reason, ...envelope(signed) });
      c.out(c.opts.json ? JSON.stringify(e) : `${exceptionRejectedLine(e)}${signed ? ` Signed with key ${signed.fingerprint}.` : ''}`);
    });

  registerCalendar(freeze, ctx);
}
