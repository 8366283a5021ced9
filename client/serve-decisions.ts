// Decisions through `rearguard serve`, for people authenticated by OIDC (client/oidc.ts): approve, reject and
// approve-plan or cancel a rollback, lift or extend a freeze, approve or reject a freeze exception, steer a
// gradual unfreeze, pause or resume a guard. Serve is a delegate: it signs each decision with its own SSH key,
// listed in the workers' allowed_signers under a `delegate:` principal, naming the person (the token's actor
// claim) as the actor and, in `extra`, the token's issuer and subject and itself. The workflow then judges the
// decision as it judges one from the CLI (runbook/decision.ts delegateProblem, workflows/kit/decisions.ts): its
// policy, approvers and freshness rules apply to the person. The operations are the CLI's (api/).
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DURATION_LIMITS } from '../runbook/duration.js';
import type { SignedDecision } from '../runbook/decision.js';
import { friendlyErrors, issueLines } from '../runbook/issues.js';
import { opError } from '../api/errors.js';
import { approveFreezeException, extendFreeze, freezeState, liftFreeze, rejectFreezeException } from '../api/freezes.js';
import { freezeIdOf, unfreezeWorkflowId } from '../api/ids.js';
import { FREEZE_DECISIONS, GUARD_DECISIONS, ROLLBACK_DECISIONS, UNFREEZE_DECISIONS, type SignedEnvelope } from '../api/messages.js';
import { approveRollbackPlan, cancelRollback, rollbackStatus, voteOnRollback } from '../api/rollbacks.js';
import { decideUnfreeze } from '../api/unfreezes.js';
import { setGuardPaused } from '../api/guards.js';
import type { OidcIdentity, OidcVerifier } from './oidc.js';
import { authenticatePerson } from './serve-auth.js';
import { changeId, durationOption, freezeRef, reason, stepName } from './options.js';

/** Serve's own signing key and the allowed_signers principal it is listed under (`delegate:...`). */
export interface DelegateSigning {
  principal: string;
  /** The key file (or literal public key in ssh-agent), as client/signing.ts takes it. */
  key: string;
  /** Where it was configured, for messages: --signing-key or REARGUARD_SERVE_SIGNING_KEY. */
  keySource: string;
}

const NO_DELEGATE_KEY =
  'rearguard serve has no signing key to sign decisions with as a delegate: set REARGUARD_SERVE_SIGNING_KEY (or --signing-key) and list its public key in the workers\' allowed_signers under a delegate: principal (README, "rearguard serve")';

/** The decision a person takes, as the person and the operation send it. */
interface Vote {
  actor: string;
  reason: string;
  signed: SignedEnvelope;
}

/** One decision endpoint: what it is signed as (and bound to), and the operation it forwards to. */
interface DecisionRoute<P, B> {
  url: string;
  params: z.ZodType<P>;
  body: z.ZodType<B>;
  decision(client: Client, p: P, b: B): Promise<{ action: string; workflowId: string; extra?: Record<string, string> }>;
  forward(client: Client, p: P, b: B, vote: Vote): Promise<unknown>;
}

const route = <P, B>(r: DecisionRoute<P, B>): DecisionRoute<P, B> => r;

const rollbackId = z.object({
  workflowId: z
    .string()
    .regex(/^rollback:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a rollback ID such as rollback:prod:payments'),
});
const guardId = z.object({
  id: z.string().regex(/^guard:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a guard ID such as guard:prod:payments'),
});
const freezeName = z.object({ name: freezeRef });
const exceptionOf = z.object({ name: freezeRef, change: changeId });
const unfreezeOf = z.object({ id: freezeRef });
/** The body of every decision: the person's reason. The actor is the token's, never the body's (unknown fields are refused). */
const reasonOnly = z.strictObject({ reason });
const planBody = z.strictObject({ reason, step: stepName.optional() });
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const extendBody = z
  .strictObject({
    reason,
    end: z
      .string()
      .regex(INSTANT, 'expected a time with its zone, such as 2026-11-30T08:00:00Z')
      .refine((t) => Number.isFinite(Date.parse(t)), 'expected a valid time')
      .optional(),
    by: durationOption(DURATION_LIMITS.freeze).optional(),
  })
  .refine((x) => (x.end === undefined) !== (x.by === undefined), { message: 'expected exactly one of end or by', path: ['end'] });

/** The workflow's description; a missing one is not-found, as the operation would say. */
async function describe(client: Client, workflowId: string, what: string) {
  try {
    return await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw opError('not-found', `no ${what} was found`);
    throw err;
  }
}

/** The run a rollback decision is bound to (as `rollback approve` signs it: extra.run). */
const runOf = async (client: Client, workflowId: string): Promise<string> => (await describe(client, workflowId, `rollback ${workflowId}`)).runId;

/**
 * The chain of runs a freeze or unfreeze decision is bound to (extra.firstRun, api/messages.ts FREEZE_DECISIONS):
 * its first run's ID, which continue-as-new keeps, so a later freeze of the same name cannot take the decision.
 */
async function chainOf(client: Client, workflowId: string, what: string): Promise<Record<string, string>> {
  const d = await describe(client, workflowId, what);
  return { firstRun: d.raw.workflowExecutionInfo?.firstRunId || d.runId };
}

/** approve-plan without a step: the step waiting for its plan's approval now (as the CLI signs it). */
async function waitingStep(client: Client, workflowId: string): Promise<string> {
  const s = await rollbackStatus(client, workflowId);
  const name = s.steps.find((x) => x.planApproval && !x.planApproval.approvedBy && x.state === 'running')?.name;
  if (name === undefined) throw opError('refused', `approve-plan refused: no step of ${workflowId} is waiting for plan approval`);
  return name;
}

const rollbackVote = (kind: 'approve' | 'reject') =>
  route({
    url: `/v1/rollbacks/:workflowId/${kind}`,
    params: rollbackId,
    body: reasonOnly,
    decision: async (client, p) => ({ action: ROLLBACK_DECISIONS[kind], workflowId: p.workflowId, extra: { run: await runOf(client, p.workflowId) } }),
    forward: (client, p, _b, vote) => voteOnRollback(client, p.workflowId, kind, vote),
  });

const ROUTES = [
  rollbackVote('approve'),
  rollbackVote('reject'),
  route({
    url: '/v1/rollbacks/:workflowId/approve-plan',
    params: rollbackId,
    body: planBody,
    decision: async (client, p, b) => ({
      action: ROLLBACK_DECISIONS.approvePlan,
      workflowId: p.workflowId,
      extra: { run: await runOf(client, p.workflowId), step: b.step ?? (await waitingStep(client, p.workflowId)) },
    }),
    forward: (client, p, b, vote) => approveRollbackPlan(client, p.workflowId, { ...vote, step: b.step }),
  }),
  route({
    url: '/v1/rollbacks/:workflowId/cancel',
    params: rollbackId,
    body: reasonOnly,
    decision: async (client, p) => ({ action: ROLLBACK_DECISIONS.cancel, workflowId: p.workflowId, extra: { run: await runOf(client, p.workflowId) } }),
    forward: (client, p, _b, vote) => cancelRollback(client, p.workflowId, vote),
  }),
  route({
    url: '/v1/freezes/:name/lift',
    params: freezeName,
    body: reasonOnly,
    decision: async (client, p) => ({
      action: FREEZE_DECISIONS.lift,
      workflowId: freezeIdOf(p.name),
      extra: await chainOf(client, freezeIdOf(p.name), `freeze ${p.name}`),
    }),
    forward: (client, p, _b, vote) => liftFreeze(client, freezeIdOf(p.name), vote),
  }),
  route({
    url: '/v1/freezes/:name/extend',
    params: freezeName,
    body: extendBody,
    // The new end is known before signing: `by` counts from the end the freeze has now.
    decision: async (client, p, b) => ({
      action: FREEZE_DECISIONS.extend,
      workflowId: freezeIdOf(p.name),
      extra: {
        ...(await chainOf(client, freezeIdOf(p.name), `freeze ${p.name}`)),
        end: b.end ? new Date(b.end).toISOString() : new Date(Date.parse((await freezeState(client, freezeIdOf(p.name))).end) + b.by!).toISOString(),
      },
    }),
    forward: (client, p, _b, vote) => extendFreeze(client, freezeIdOf(p.name), vote, () => signedExtra(vote).end),
  }),
  ...(['approve', 'reject'] as const).map((kind) =>
    route({
      url: `/v1/freezes/:name/exceptions/:change/${kind}`,
      params: exceptionOf,
      body: reasonOnly,
      decision: async (client, p) => ({
        action: kind === 'approve' ? FREEZE_DECISIONS.approveException : FREEZE_DECISIONS.rejectException,
        workflowId: freezeIdOf(p.name),
        extra: { ...(await chainOf(client, freezeIdOf(p.name), `freeze ${p.name}`)), change: p.change },
      }),
      forward: (client, p, _b, vote) =>
        (kind === 'approve' ? approveFreezeException : rejectFreezeException)(client, freezeIdOf(p.name), { ...vote, changeId: p.change }),
    }),
  ),
  ...(['advance', 'abort', 'approve'] as const).map((kind) =>
    route({
      url: `/v1/unfreezes/:id/${kind}`,
      params: unfreezeOf,
      body: reasonOnly,
      decision: async (client, p) => ({
        action: UNFREEZE_DECISIONS[kind],
        workflowId: unfreezeWorkflowId(freezeIdOf(p.id)),
        extra: await chainOf(client, unfreezeWorkflowId(freezeIdOf(p.id)), `gradual unfreeze of ${freezeIdOf(p.id)}`),
      }),
      forward: (client, p, _b, vote) => decideUnfreeze(client, freezeIdOf(p.id), kind, vote),
    }),
  ),
  ...(['pause', 'resume'] as const).map((kind) =>
    route({
      url: `/v1/guards/:id/${kind}`,
      params: guardId,
      body: reasonOnly,
      decision: async (_client, p) => ({ action: GUARD_DECISIONS[kind], workflowId: p.id }),
      forward: (client, p, _b, vote) => setGuardPaused(client, p.id, kind, vote),
    }),
  ),
];

/** The `extra` of the decision a vote carries (what serve signed). */
const signedExtra = (vote: Vote): Record<string, string> => (JSON.parse(vote.signed.payload) as SignedDecision).extra ?? {};

export interface DecisionRoutesOptions {
  client: Client;
  oidc?: OidcVerifier;
  delegate?: DelegateSigning;
  /** Per-client request budget for these routes (see client/serve.ts). */
  rateLimit?: { max: number; timeWindow: number };
}

/** Signs a person's decision as the delegate (client/signing.ts: ssh-keygen -Y sign). */
async function signAsDelegate(
  delegate: DelegateSigning,
  person: OidcIdentity,
  d: { action: string; workflowId: string; reason: string; extra?: Record<string, string> },
): Promise<SignedEnvelope & { fingerprint: string }> {
  // Loaded only when a decision is made: serve's other routes do not need it.
  const { signDecision } = await import('./signing.js');
  const s = await signDecision(
    {
      action: d.action,
      workflowId: d.workflowId,
      actor: person.actor,
      reason: d.reason,
      at: new Date().toISOString(),
      nonce: randomUUID(),
      extra: { ...d.extra, oidcIssuer: person.issuer, oidcSubject: person.subject, delegate: delegate.principal },
    },
    { key: delegate.key, keyOption: delegate.keySource },
  );
  return { payload: s.payload, signature: s.signature, fingerprint: s.fingerprint };
}

export function registerDecisionRoutes(app: FastifyInstance, o: DecisionRoutesOptions): void {
  for (const r of ROUTES as DecisionRoute<Record<string, string>, { reason: string }>[]) {
    app.post(r.url, { config: o.rateLimit ? { rateLimit: o.rateLimit } : {} }, async (req, reply) => {
      const person = await authenticatePerson(o.oidc, req, reply);
      if (!person) return reply;
      if (!o.delegate) return reply.code(501).send({ error: NO_DELEGATE_KEY });
      const params = r.params.safeParse(req.params, { error: friendlyErrors });
      const body = r.body.safeParse(req.body ?? {}, { error: friendlyErrors });
      if (!params.success || !body.success) {
        const problems = [...(params.success ? [] : issueLines(params.error.issues)), ...(body.success ? [] : issueLines(body.error.issues))];
        return reply.code(400).send({ error: 'bad request', problems });
      }
      const d = await r.decision(o.client, params.data, body.data);
      const signed = await signAsDelegate(o.delegate, person, { ...d, reason: body.data.reason });
      const vote: Vote = { actor: person.actor, reason: body.data.reason, signed: { payload: signed.payload, signature: signed.signature } };
      const result = await r.forward(o.client, params.data, body.data, vote);
      return reply.send({
        workflowId: d.workflowId,
        action: d.action,
        actor: person.actor,
        signedBy: { principal: o.delegate.principal, fingerprint: signed.fingerprint },
        result,
      });
    });
  }
}
