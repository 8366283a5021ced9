// `rearguard freeze start|extend|lift|status|list|exception`: release freezes. Each command parses
// its options, calls the freeze operations of api/freezes.ts and renders (client/render/freeze.ts). The
// command line is client/commands/freeze.ts; `freeze check`, the gate, is client/actions/gate.ts.
import type { Client } from '@temporalio/client';
import { DateTime } from 'luxon';
import { z } from 'zod';
import {
  approveFreezeException,
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
import { ACTOR, DNS1123_SUBDOMAIN } from '../../runbook/names.js';
import type { CliContext } from '../context.js';
import { envelope, signedBy, signIfKey } from '../decision-signing.js';
import { badInput, failed, parseOptions } from '../errors.js';
import { changeId, durationOption, freezeRef, list, reason as reasonText, wholeNumber } from '../options.js';
import { differenceLines, exceptionApprovedLine, exceptionRejectedLine, freezeLine, localTime, startedLine, unreadableLines } from '../render/freeze.js';

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

export async function start(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
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
}

export async function extend(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
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
}

export async function lift(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const o = parseOptions(z.object({ name: freezeRef, reason: reasonText }), raw);
  const client = await c.connect();
  const id = freezeIdOf(o.name);
  const signed = await signDecisionOn(c, client, { action: FREEZE_DECISIONS.lift, workflowId: id, reason: o.reason });
  const state = await liftFreeze(client, id, { actor: c.actor, reason: o.reason, ...envelope(signed) });
  c.out(c.opts.json ? JSON.stringify(state) : `Freeze ${state.name} lifted by ${c.actor}${signedBy(signed)}.`);
}

export async function status(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const o = parseOptions(z.object({ name: freezeRef }), raw);
  const s = await freezeState(await c.connect(), freezeIdOf(o.name));
  c.out(c.opts.json ? JSON.stringify(s) : freezeLine(s));
}

export async function listWindows(ctx: () => CliContext): Promise<void> {
  const c = ctx();
  const { states, unreadable } = await listFreezes(await c.connect(), c.opts.taskQueue);
  if (c.opts.json) c.out(JSON.stringify(states));
  else if (!states.length && !unreadable.length) c.out('No freeze windows are running.');
  else states.forEach((s) => c.out(freezeLine(s)));
  // Running windows that could not be read are shown too, and make the listing a failure: it is incomplete.
  if (unreadable.length) throw failed(`${unreadable.length} running freeze(s) could not be read:`, ...unreadableLines(unreadable));
}

export async function requestException(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
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
}

/** `freeze exception approve|reject`: one vote on a change's exception (signed when a key is set). */
async function decideException(ctx: () => CliContext, raw: Record<string, unknown>, decision: 'approve' | 'reject'): Promise<void> {
  const c = ctx();
  const o = parseOptions(z.object({ name: freezeRef, change: changeId, reason: reasonText }), raw);
  const client = await c.connect();
  const id = freezeIdOf(o.name);
  const signed = await signDecisionOn(c, client, {
    action: decision === 'approve' ? FREEZE_DECISIONS.approveException : FREEZE_DECISIONS.rejectException,
    workflowId: id,
    reason: o.reason,
    extra: { change: o.change },
  });
  const vote = { actor: c.actor, changeId: o.change, reason: o.reason, ...envelope(signed) };
  const e = decision === 'approve' ? await approveFreezeException(client, id, vote) : await rejectFreezeException(client, id, vote);
  const line = decision === 'approve' ? exceptionApprovedLine(e) : exceptionRejectedLine(e);
  c.out(c.opts.json ? JSON.stringify(e) : `${line}${signed ? ` Signed with key ${signed.fingerprint}.` : ''}`);
}

export const approveException = (ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> => decideException(ctx, raw, 'approve');
export const rejectException = (ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> => decideException(ctx, raw, 'reject');
