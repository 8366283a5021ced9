// Freeze guardrails: while a freeze is active the worker changes other systems so nothing deploys
// (Argo CD sync windows or auto-sync, Flux suspend, feature-flag pins), and when it ends puts back
// exactly what it changed. Both activities are idempotent and keep no state of their own: each
// changed object carries markers naming the freezes holding it and what it was before (see
// argocd.ts, flux.ts and flags.ts), so a retry after a crash, a second call, or an overlapping freeze
// guarding the same object all find what was done and do only what is left.
import { ApplicationFailure } from '@temporalio/activity';
import type { GuardrailChange, Guardrails } from '../../runbook/freeze.js';
import type { Clusters } from '../targets.js';
import { applyArgo, restoreArgo } from './argocd.js';
import { checkFreezeId } from './common.js';
import { applyFlags, restoreFlags } from './flags.js';
import { applyFlux, restoreFlux } from './flux.js';

export interface GuardrailsRequest {
  freezeId: string;
  guardrails: Guardrails;
}

type Part = [name: keyof Guardrails, run: () => Promise<GuardrailChange[]>];

/**
 * Runs every guardrail even when one fails (a freeze should hold, or end, everywhere it can), then
 * fails with all the errors: retryable if any was (every part is idempotent, so the retry redoes only
 * what is left), else non-retryable. The changes made so far travel in the failure's details.
 */
async function runAll(parts: Part[], missing: string[] = []): Promise<{ changes: GuardrailChange[] }> {
  const changes: GuardrailChange[] = [];
  const failures: { name: string; err: unknown }[] = [];
  for (const [name, run] of parts) {
    try {
      changes.push(...(await run()));
    } catch (err) {
      failures.push({ name, err });
    }
  }
  if (missing.length) {
    failures.push({ name: 'guardrails', err: ApplicationFailure.nonRetryable(`these objects do not exist: ${missing.join(', ')}`, 'ConfigurationError') });
  }
  if (!failures.length) return { changes };
  if (failures.length === 1 && failures[0].err instanceof ApplicationFailure && !missing.length && !changes.length) throw failures[0].err;
  const first = failures.find((f) => f.err instanceof ApplicationFailure && !f.err.nonRetryable) ?? failures[0];
  const retryable = !(first.err instanceof ApplicationFailure) || !first.err.nonRetryable;
  throw ApplicationFailure.create({
    type: first.err instanceof ApplicationFailure ? (first.err.type ?? 'GuardrailFailed') : 'GuardrailFailed',
    nonRetryable: !retryable,
    message: failures.map((f) => `${f.name}: ${(f.err as Error).message ?? String(f.err)}`).join('; '),
    details: [{ changes }],
  });
}

export async function applyGuardrails(deps: { clusters: Clusters }, req: GuardrailsRequest & { reason: string }): Promise<{ changes: GuardrailChange[] }> {
  checkFreezeId(req.freezeId);
  const { argocd, flux, flags } = req.guardrails;
  // A guardrail naming an object that does not exist is a configuration error, reported after the others are in place.
  const missing: string[] = [];
  const parts: Part[] = [];
  if (argocd) parts.push(['argocd', () => applyArgo(deps.clusters.client(argocd.cluster), argocd, req.freezeId, req.reason, missing)]);
  if (flux) parts.push(['flux', () => applyFlux(deps.clusters.client(flux.cluster), flux, req.freezeId, missing)]);
  if (flags) parts.push(['flags', () => applyFlags(flags, req.freezeId)]);
  return runAll(parts, missing);
}

export async function restoreGuardrails(deps: { clusters: Clusters }, req: GuardrailsRequest): Promise<{ changes: GuardrailChange[] }> {
  checkFreezeId(req.freezeId);
  const { argocd, flux, flags } = req.guardrails;
  const parts: Part[] = [];
  if (argocd) parts.push(['argocd', () => restoreArgo(deps.clusters.client(argocd.cluster), argocd, req.freezeId)]);
  if (flux) parts.push(['flux', () => restoreFlux(deps.clusters.client(flux.cluster), flux, req.freezeId)]);
  if (flags) parts.push(['flags', () => restoreFlags(flags, req.freezeId)]);
  return runAll(parts);
}
