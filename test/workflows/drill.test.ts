// The drill workflow on the time-skipping test server, activities stubbed per test: SLA met and missed
// (a forced drill whose rollback waits 6 minutes for an approver: skipped, not shortened), refusal of a
// prod runbook, and a rollback that fails (the drill cleans up and fails with its report). Forcing as a
// decision: someone the policy's `drills` does not allow is refused, as is a decision signed with another
// person's key or unsigned where signatures are required; a signed one is admitted and audited (drill.forced).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import type { Activities } from '../../activities/index.js';
import type { DrillInput, DrillReport, DrillRevision } from '../../runbook/drill.js';
import type { Runbook } from '../../runbook/schema.js';
import type { AuditEvent, RollbackStatus } from '../../runbook/types.js';
import type { RearguardMetrics } from '../../worker/metrics.js';
import { execa } from 'execa';
import { loadTrustSettings, type TrustSettings } from '../../activities/trust.js';
import { decisionSignatureVerifier } from '../../api/audit-chain.js';
import { DRILL_DECISIONS, approveUpdate, statusQuery, type SignedEnvelope } from '../../api/messages.js';
import { signDecision } from '../../client/signing.js';
import type { SignedDecision } from '../../runbook/decision.js';
import { permissionRules } from '../../runbook/permissions.js';
import { parsePolicy } from '../../runbook/policy.js';
import { makeRunbook } from '../helpers/runbooks.js';
import { testEnv, useTemporalEnv, withWorker } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { rollbackWorkflowId } from '../../api/ids.js';

useTemporalEnv();

const kubeStep = { name: 'undo-api', type: 'kubernetes', namespace: 'shop', deployment: 'api' };
const stagingRunbook = (spec: Record<string, unknown> = {}): Runbook =>
  makeRunbook({ environment: 'staging', cluster: 'testbed', approval: undefined, steps: [kubeStep], ...spec }, 'api-staging');

interface Calls {
  audit: AuditEvent[];
  deployed: string[];
  restored: DrillRevision[];
}

function stubs(markerLeft: boolean, overrides: Partial<Activities> = {}) {
  const calls: Calls = { audit: [], deployed: [], restored: [] };
  const activities = {
    appendAudit: async (e: AuditEvent) => void calls.audit.push(e),
    // The development default: the drill's rollback takes no signed votes here.
    trustSettings: async () => ({ requireSignatures: false, allowedSigners: [] }),
    preflight: async () => [],
    planStep: async () => ({
      kind: 'kubernetes',
      cluster: 'testbed',
      namespace: 'shop',
      deployment: 'api',
      fromRevision: 2,
      toRevision: 1,
      fromImages: ['api=api:rearguard-drill-bad'],
      toImages: ['api=api:1.0'],
      replicaSet: 'api-1',
      alreadyAtTarget: false,
    }),
    // A drill's bad revision is a new deploy: never a state an earlier rollback restored.
    findRestored: async () => null,
    runStep: async () => ({ ok: true }),
    runCheck: async () => ({ ok: true }),
    notify: async () => ({ sent: [] }),
    drillDeployBadRevision: async (req: { marker: string }): Promise<DrillRevision> => {
      calls.deployed.push(req.marker);
      return {
        cluster: 'testbed',
        namespace: 'shop',
        deployment: 'api',
        marker: req.marker,
        goodRevision: 1,
        goodReplicaSet: 'api-1',
        goodImages: ['api=api:1.0'],
        badRevision: 2,
        badImages: ['api=api:rearguard-drill-bad'],
        created: true,
      };
    },
    drillInspect: async () => ({
      revision: markerLeft ? 2 : 3,
      images: ['api=api:1.0'],
      marker: markerLeft ? calls.deployed[0] : undefined,
      rolloutDone: true,
    }),
    drillRestore: async (rev: DrillRevision) => {
      calls.restored.push(rev);
      return { patched: true, revision: 3 };
    },
    ...overrides,
  } as unknown as Activities;
  return { activities, calls };
}

async function withDrill(
  input: Omit<DrillInput, 'runbook'> & { runbook: Runbook },
  o: { markerLeft?: boolean; overrides?: Partial<Activities>; sign?: (workflowId: string) => Promise<Partial<DrillInput>> },
  body: (ctx: { workflowId: string; result: () => Promise<DrillReport>; calls: Calls; metrics: RearguardMetrics; service: string }) => Promise<void>,
): Promise<void> {
  const service = `svc-${randomUUID().slice(0, 8)}`;
  const runbook = { ...input.runbook, spec: { ...input.runbook.spec, service } };
  const { activities, calls } = stubs(o.markerLeft ?? false, o.overrides);
  await withWorker({ activities, taskQueue: 'drill' }, async ({ client, taskQueue, metrics }) => {
    const workflowId = `drill:${runbook.metadata.name}:${new Date().toISOString()}-${service}`;
    // A forced drill's decision is signed for the drill's workflow ID, known before the start (as the CLI does it).
    const signed = o.sign ? await o.sign(workflowId) : {};
    const handle = await client.workflow.start('drill', { workflowId, taskQueue, args: [{ ...input, ...signed, runbook }] });
    await body({
      workflowId,
      // Lazy: waiting for the result lets the time-skipping server skip ahead.
      result: () => handle.result() as Promise<DrillReport>,
      calls,
      metrics,
      service,
    });
  });
}

async function failureOf(p: Promise<unknown>): Promise<{ type?: string; message: string; report: DrillReport }> {
  const err = await p.then(
    () => assert.fail('expected the drill to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  const cause = err.cause as ApplicationFailure;
  return { type: cause.type ?? undefined, message: cause.message, report: cause.details?.[0] as DrillReport };
}

describe('drill workflow', () => {
  it('staging: deploys the marked bad revision, runs the rollback as a child, and meets the SLA', async () => {
    await withDrill({ runbook: stagingRunbook(), actor: 'dave' }, {}, async ({ workflowId, result, calls, metrics, service }) => {
      const r = await result();
      assert.equal(r.verdict, 'met');
      assert.equal(r.slaMet, true);
      assert.equal(r.restored, true);
      assert.equal(r.rollback?.outcome, 'succeeded');
      assert.equal(r.rollback?.workflowId, rollbackWorkflowId('staging', service));
      assert.ok(r.restoreSeconds !== undefined && r.restoreSeconds < 300);
      assert.deepEqual(calls.deployed, [workflowId]);
      assert.equal(calls.restored.length, 0);
      const drillActions = calls.audit.filter((e) => e.workflowId === workflowId).map((e) => e.action);
      assert.deepEqual(drillActions, ['drill.started', 'drill.bad-revision-deployed', 'drill.met']);
      const trigger = calls.audit.find((e) => e.action === 'rollback.triggered')!;
      assert.deepEqual({ actor: trigger.actor, source: trigger.details.source }, { actor: 'dave', source: 'drill' });
      assert.match(await metrics.registry.getSingleMetricAsString('rearguard_drills_total'), /verdict="met"\} 1/);
    });
  });

  it('forced drill of a runbook with approval: the 6 minutes waiting for an approver count, and the 5m SLA is missed', async () => {
    const runbook = stagingRunbook({ approval: { required: true, approvers: ['alice'], quorum: 1, timeout: '10m' } });
    await withDrill({ runbook, actor: 'dave', forced: true }, {}, async ({ result, service, metrics }) => {
      const rollback = testEnv().client.workflow.getHandle(rollbackWorkflowId('staging', service));
      await waitFor(async () => (await rollback.query(statusQuery).catch(() => undefined))?.phase === 'awaiting-approval', 'rollback awaiting approval', {
        interval: 50,
      });
      await testEnv().sleep('6m');
      await rollback.executeUpdate(approveUpdate, { args: [{ actor: 'alice', reason: 'drill' }] });
      const r = await result();
      assert.equal(r.verdict, 'missed');
      assert.equal(r.slaMet, false);
      assert.equal(r.rollback?.slaBreached, true);
      assert.ok(r.restoreSeconds! >= 360, `restore ${r.restoreSeconds}s`);
      const gauge = await metrics.registry.getSingleMetricAsString('rearguard_drill_restore_seconds');
      assert.match(gauge, new RegExp(`service="${service}"\\} (3[6-9]\\d|[4-9]\\d\\d)`));
      assert.equal(((await rollback.result()) as RollbackStatus).outcome, 'succeeded');
    });
  });

  it('refuses a prod runbook without forced, before touching anything', async () => {
    const runbook = makeRunbook({ cluster: 'testbed', steps: [kubeStep] }, 'api-prod');
    await withDrill({ runbook, actor: 'dave' }, {}, async ({ result, calls }) => {
      const f = await failureOf(result());
      assert.equal(f.type, 'DrillRefused');
      assert.match(f.message, /targets environment prod: drills run in staging only/);
      assert.equal(f.report.phase, 'refused');
      assert.deepEqual(calls.deployed, []);
      assert.deepEqual(
        calls.audit.map((e) => e.action),
        ['drill.refused'],
      );
    });
  });

  it('refuses a runbook without a kubernetes step', async () => {
    const runbook = stagingRunbook({ steps: [{ type: 'webhook', url: 'http://127.0.0.1:9/x' }] });
    await withDrill({ runbook, actor: 'dave', forced: true }, {}, async ({ result }) => {
      const f = await failureOf(result());
      assert.equal(f.type, 'DrillRefused');
      assert.match(f.message, /has no kubernetes step/);
    });
  });

  it('a failed rollback fails the drill with its report, after putting the good template back', async () => {
    const overrides: Partial<Activities> = {
      runStep: async () => {
        throw ApplicationFailure.nonRetryable('forbidden', 'PermissionDenied');
      },
    };
    await withDrill({ runbook: stagingRunbook(), actor: 'dave' }, { markerLeft: true, overrides }, async ({ result, calls }) => {
      const f = await failureOf(result());
      assert.equal(f.type, 'DrillFailed');
      assert.equal(f.report.verdict, 'failed');
      assert.equal(f.report.rollback?.outcome, 'failed');
      assert.match(f.report.rollback?.failure ?? '', /forbidden/);
      assert.equal(f.report.restoreSeconds, undefined);
      assert.equal(f.report.cleanedUp, true);
      assert.equal(calls.restored.length, 1);
      assert.ok(calls.audit.some((e) => e.action === 'drill.cleaned-up'));
      assert.equal(calls.audit.at(-1)?.action, 'drill.failed');
    });
  });
});

describe('forcing a drill is a decision', () => {
  let dir = '';
  /** allowed_signers listing dana and eli (signatures required), and a policy letting only eli force drills in prod. */
  let required: TrustSettings;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rearguard-drill-force-'));
    for (const name of ['dana', 'eli']) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
    const line = async (name: string) => `${name} namespaces="rearguard" ${(await readFile(join(dir, `${name}.pub`), 'utf8')).trim()}`;
    await writeFile(join(dir, 'allowed_signers'), `${await line('dana')}\n${await line('eli')}\n`);
    required = loadTrustSettings({ REARGUARD_ALLOWED_SIGNERS: join(dir, 'allowed_signers') });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const policy = parsePolicy(`
apiVersion: rearguard/v1
kind: Policy
metadata: { name: production }
spec:
  groups: {}
  environments:
    - match: "*"
      trigger: [dana, eli, mallory]
    - match: prod
      drills: [eli]
`);
  assert.ok(policy.ok);
  const permissions = permissionRules(policy.value);
  // A prod runbook without approval: a forced drill of it runs to the end here.
  const prodRunbook = () => makeRunbook({ cluster: 'testbed', approval: undefined, steps: [kubeStep] }, 'api-prod');
  const withTrust = (t: TrustSettings) => ({ trustSettings: async () => t });

  /** `drill run --force` as `actor`, signed with `key` (none: unsigned), at the server's time. */
  const forcedBy = (actor: string, key?: string, over: Partial<SignedDecision> = {}) => ({
    runbook: prodRunbook(),
    actor,
    forced: true,
    reason: 'quarterly prod drill',
    sign: async (workflowId: string): Promise<Partial<DrillInput>> => {
      if (!key) return {};
      const d: SignedDecision = {
        action: DRILL_DECISIONS.force,
        workflowId,
        actor,
        reason: 'quarterly prod drill',
        at: new Date(await testEnv().currentTimeMs()).toISOString(),
        nonce: randomUUID(),
        ...over,
      };
      const { payload, signature } = await signDecision(d, { key: join(dir, key), env: { PATH: process.env.PATH, HOME: dir } });
      return { signed: { payload, signature } satisfies SignedEnvelope };
    },
  });

  async function refusedDrill(f: ReturnType<typeof forcedBy>, trust: TrustSettings, pattern: RegExp): Promise<void> {
    const { sign, ...input } = f;
    await withDrill(input, { overrides: withTrust(trust), sign }, async ({ result, calls }) => {
      const failure = await failureOf(result());
      assert.equal(failure.type, 'DrillRefused');
      assert.match(failure.message, pattern);
      assert.equal(failure.report.phase, 'refused');
      assert.deepEqual(calls.deployed, [], 'nothing was broken');
      assert.deepEqual(
        calls.audit.map((e) => [e.action, e.actor, e.reason]),
        [['drill.refused', f.actor, failure.message]],
      );
    });
  }

  it('someone the policy does not allow to force drills in prod is refused before anything is touched', async () => {
    await refusedDrill(
      forcedBy('mallory'),
      { requireSignatures: false, allowedSigners: [], permissions },
      /^forced drill refused: refused by the worker's policy: mallory may not force drills in prod \(policy production, rule prod: eli\)$/,
    );
  });

  it('a forcing decision signed with another person key, or unsigned, is refused where signatures are required', async () => {
    const trust = { ...required, permissions };
    await refusedDrill(
      forcedBy('eli', 'dana'),
      trust,
      /^forced drill refused: signed decision refused: signed by a key allowed for dana, not for eli \(key SHA256:/,
    );
    await refusedDrill(forcedBy('eli'), trust, /^forced drill refused: signed decision required: /);
    await refusedDrill(
      forcedBy('eli', 'eli', { workflowId: 'drill:api-prod:another' }),
      trust,
      /signed for workflow "drill:api-prod:another", not "drill:api-prod:/,
    );
  });

  it('a forcing decision signed by someone the policy allows is admitted and audited with its signature', async () => {
    const { sign, ...input } = forcedBy('eli', 'eli');
    await withDrill(input, { overrides: withTrust({ ...required, permissions }), sign }, async ({ workflowId, result, calls }) => {
      const r = await result();
      assert.equal(r.verdict, 'met');
      assert.deepEqual(calls.deployed, [workflowId]);
      assert.deepEqual(
        calls.audit.filter((e) => e.workflowId === workflowId).map((e) => e.action),
        ['drill.forced', 'drill.started', 'drill.bad-revision-deployed', 'drill.met'],
      );
      const forced = calls.audit.find((e) => e.action === 'drill.forced')!;
      assert.deepEqual(
        { actor: forced.actor, reason: forced.reason, principal: forced.signature?.principal },
        {
          actor: 'eli',
          reason: 'quarterly prod drill',
          principal: 'eli',
        },
      );
      assert.equal((forced.details.decision as SignedDecision).workflowId, workflowId);
      assert.deepEqual(await decisionSignatureVerifier(required.allowedSigners)(forced), { ok: true }, 'audit verify --allowed-signers checks it');
    });
  });
});

describe('drills of catalog runbooks', () => {
  // A worker with a catalog whose policy accepts local runbooks only in dev (signatures not required here).
  const catalogTrust = async () => ({
    requireSignatures: false,
    allowedSigners: [],
    localRunbooks: ['dev'],
    catalog: { source: '/etc/rearguard/catalog', revision: 'sha256:c0ffee' },
  });

  it('a drill started by catalog name loads the runbook on the worker; its rollback keeps the catalog origin and runs in staging', async () => {
    const service = `svc-${randomUUID().slice(0, 8)}`;
    const base = stagingRunbook();
    const runbook = { ...base, spec: { ...base.spec, service } };
    const loads: unknown[] = [];
    const { activities } = stubs(false, {
      trustSettings: catalogTrust,
      catalogRunbook: async (ref: { name: string; digest?: string }) => {
        loads.push(ref);
        return { name: ref.name, file: 'runbooks/api.yaml', digest: 'sha256:abc', runbook, revision: 'sha256:c0ffee', source: '/etc/rearguard/catalog' };
      },
    } as Partial<Activities>);
    await withWorker({ activities, taskQueue: 'drill' }, async ({ client, taskQueue }) => {
      const workflowId = `drill:api-staging:${new Date().toISOString()}-${service}`;
      const handle = await client.workflow.start('drill', { workflowId, taskQueue, args: [{ catalog: { name: 'api-staging' }, actor: 'dave' }] });
      const r = (await handle.result()) as DrillReport;
      assert.equal(r.verdict, 'met', JSON.stringify(r));
      assert.deepEqual(loads, [{ name: 'api-staging' }]);
      const status = (await client.workflow.getHandle(rollbackWorkflowId('staging', service)).result()) as RollbackStatus;
      assert.deepEqual(status.origin, { catalog: '/etc/rearguard/catalog', revision: 'sha256:c0ffee', digest: 'sha256:abc' });
    });
  });

  it('the same worker refuses a drill of a local runbook file in staging (local runbooks only in dev)', async () => {
    await withDrill(
      { runbook: stagingRunbook(), actor: 'dave' },
      { overrides: { trustSettings: catalogTrust } as Partial<Activities> },
      async ({ result, calls }) => {
        const { report } = await failureOf(result());
        assert.match(report.error ?? '', /sent as a local file, and the worker's policy accepts local runbooks only in dev, not staging/);
        assert.deepEqual(calls.deployed, [], 'refused before the bad revision was deployed');
      },
    );
  });
});
