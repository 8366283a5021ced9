// Rollbacks of catalog runbooks (time-skipping server; the catalog, its activities and the trust settings are the
// real ones over a catalog directory, the mechanisms are stubbed): the workflow loads the runbook by name and
// digest on the worker, a runbook changed between trigger and load is refused, a catalog runbook without
// `approval` still needs the policy's quorum, a local runbook is refused where the policy does not allow local
// runbooks, and a person's trigger must be signed.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { execa } from 'execa';
import { Catalog, catalogActivities, digestOf, parseCatalogSource } from '../../activities/catalog.js';
import { Repos } from '../../activities/targets.js';
import { trustActivities } from '../../activities/trust.js';
import { rollbackWorkflowId } from '../../api/ids.js';
import { approveUpdate, ROLLBACK_DECISIONS, triggerSignal, type SignedEnvelope } from '../../api/messages.js';
import { signDecision } from '../../client/signing.js';
import { triggerExtra, type SignedDecision } from '../../runbook/decision.js';
import type { AuditEvent, RollbackStatus, Trigger } from '../../runbook/types.js';
import { testEnv, useTemporalEnv, withWorker } from '../helpers/harness.js';
import { outcomeOf, phase, stubActivities } from '../helpers/rollback.js';
import { makeRunbook } from '../helpers/runbooks.js';
import { waitFor } from '../helpers/wait.js';
import { stringify } from 'yaml';

useTemporalEnv();

let dir = '';
let keys = '';
let catalogDir = '';

const POLICY = `apiVersion: rearguard/v1
kind: Policy
metadata: { name: production }
spec:
  localRunbooks: [dev]
  groups: { sre: [alice, bob, carol] }
  environments:
    - match: "*"
      trigger: [dana, group:sre]
    - match: prod
      approve: { by: [group:sre], quorum: 2 }
`;

/** A catalog runbook file for a unique service, without `approval`: the policy's quorum applies. */
function runbookYaml(name: string, service: string, sla = '5m'): string {
  const rb = makeRunbook({ service, sla, approval: undefined }, name);
  return stringify({ ...rb, spec: { ...rb.spec, sla } });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rearguard-catalog-wf-'));
  keys = join(dir, 'keys');
  catalogDir = join(dir, 'catalog');
  await mkdir(keys);
  await mkdir(join(catalogDir, 'runbooks'), { recursive: true });
  const lines: string[] = [];
  for (const name of ['dana', 'alice', 'bob', 'mallory']) {
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(keys, name)]);
    if (name !== 'mallory') lines.push(`${name} namespaces="rearguard" ${(await readFile(join(keys, `${name}.pub`), 'utf8')).trim()}`);
  }
  await writeFile(join(catalogDir, 'allowed_signers'), `${lines.join('\n')}\n`);
  await writeFile(join(catalogDir, 'policy.yaml'), POLICY);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function sign(key: string, d: Omit<SignedDecision, 'at' | 'nonce'>): Promise<SignedEnvelope> {
  const full: SignedDecision = { ...d, at: new Date(await testEnv().currentTimeMs()).toISOString(), nonce: randomUUID() };
  const { payload, signature } = await signDecision(full, { key: join(keys, key), env: { PATH: process.env.PATH, HOME: dir } });
  return { payload, signature };
}

interface Run {
  handle: WorkflowHandle;
  audit: AuditEvent[];
  steps: number;
}

/**
 * Writes runbook `name` for a unique service into the catalog, reads the catalog as a worker would, and starts
 * a rollback naming it. `edit` may change the file after the digest was taken (the trigger's view).
 */
async function withCatalogRollback(
  o: { actor?: string; signer?: string; local?: boolean; environment?: string; source?: Trigger['source']; edit?: (file: string) => Promise<void> },
  body: (r: Run, status: () => Promise<RollbackStatus>, ctx: { sign: typeof sign; name: string }) => Promise<void>,
): Promise<void> {
  const service = `svc-${randomUUID().slice(0, 8)}`;
  const name = `rb-${service}`;
  const file = join(catalogDir, 'runbooks', `${name}.yaml`);
  const text = runbookYaml(name, service);
  await writeFile(file, text);
  const digest = digestOf(text);
  await o.edit?.(file);
  const catalog = new Catalog({ source: parseCatalogSource(catalogDir), repos: new Repos({}), env: {}, gitBin: 'git', workDir: dir, refreshMs: 0 });
  await catalog.start();
  const { activities, calls } = stubActivities({ ...trustActivities({}, undefined, catalog), ...catalogActivities(catalog) });
  const environment = o.environment ?? 'prod';
  const workflowId = rollbackWorkflowId(environment, service);
  const actor = o.actor ?? 'dana';
  const reason = 'error rate 12%';
  const signed =
    o.signer === undefined
      ? undefined
      : await sign(o.signer, {
          action: ROLLBACK_DECISIONS.trigger,
          workflowId,
          actor,
          reason,
          extra: triggerExtra(name, o.local ? undefined : digest, { source: o.source ?? 'manual' }),
        });
  const trigger: Trigger = { source: o.source ?? 'manual', actor, reason, requestId: randomUUID(), ...(signed ? { signed } : {}) };
  const local = makeRunbook({ service, environment, approval: undefined }, name);
  await withWorker({ activities }, async ({ client, taskQueue }) => {
    const handle = await client.workflow.signalWithStart('rollback', {
      workflowId,
      taskQueue,
      args: [o.local ? { runbook: local, trigger } : { catalog: { name, digest }, trigger }],
      signal: triggerSignal,
      signalArgs: [trigger],
    });
    await body({ handle, audit: calls.audit, steps: calls.steps.length }, () => outcomeOf(handle), { sign, name });
  });
  catalog.stop();
}

describe('rollbacks of catalog runbooks', () => {
  it('loads the runbook by name and digest on the worker; a runbook without approval still needs the policy quorum of 2', async () => {
    await withCatalogRollback({ signer: 'dana' }, async ({ handle, audit }, status) => {
      await phase(handle, 'awaiting-approval');
      for (const approver of ['alice', 'bob']) {
        const run = (await handle.describe()).runId;
        const reason = `${approver} checked the dashboard`;
        const signed = await sign(approver, { action: ROLLBACK_DECISIONS.approve, workflowId: handle.workflowId, actor: approver, reason, extra: { run } });
        await handle.executeUpdate(approveUpdate, { args: [{ actor: approver, reason, signed }] });
      }
      const s = await status();
      assert.equal(s.outcome, 'succeeded');
      assert.deepEqual([s.approval.quorum, s.approval.required], [2, true]);
      assert.ok(s.origin && 'catalog' in s.origin, 'the status names the catalog');
      assert.equal(s.origin.catalog, catalogDir);
      assert.match(s.origin.digest, /^sha256:[0-9a-f]{64}$/);
      const triggered = audit.find((e) => e.action === 'rollback.triggered')!;
      assert.deepEqual((triggered.details.runbook as { digest: string }).digest, s.origin.digest);
      const verified = audit.find((e) => e.action === 'rollback.trigger-verified');
      assert.equal(verified?.signature?.principal, 'dana', 'the signed trigger is audited with its signature');
    });
  });

  it('a runbook whose content changed between the trigger and its load is refused', async () => {
    const edit = (file: string) => readFile(file, 'utf8').then((t) => writeFile(file, t.replace('sla: 5m', 'sla: 6m')));
    await withCatalogRollback({ signer: 'dana', edit }, async ({ handle }, status) => {
      await assert.rejects(status(), (err: Error) => {
        assert.match(String((err.cause as Error)?.message ?? err.message), /changed between the trigger \(sha256:[0-9a-f]+\) and its load \(sha256:[0-9a-f]+/);
        return true;
      });
      assert.equal((await handle.describe()).status.name, 'FAILED');
    });
  });

  it('a local runbook file for prod is refused where the policy accepts local runbooks only in dev', async () => {
    await withCatalogRollback({ local: true, signer: 'dana' }, async ({ audit, steps }, status) => {
      await assert.rejects(status());
      assert.equal(steps, 0);
      assert.match(
        audit.find((e) => e.action === 'rollback.failed')?.reason ?? '',
        /was sent as a local file, and the worker's policy production accepts local runbooks only in dev, not prod; start the reviewed runbook from the catalog by name/,
      );
    });
  });

  it('a local runbook file in dev is accepted (the policy lists dev)', async () => {
    await withCatalogRollback({ local: true, signer: 'dana', environment: 'dev' }, async (_r, status) => {
      assert.equal((await status()).outcome, 'succeeded');
    });
  });

  it('a person cannot pass as a system: --source alert as alice is refused; an unsigned join neither joins nor keeps anyone from voting', async () => {
    await withCatalogRollback({ source: 'alert', actor: 'alice' }, async ({ audit }, status) => {
      await assert.rejects(status());
      assert.match(audit.find((e) => e.action === 'rollback.failed')?.reason ?? '', /trigger refused: an alert trigger acts as alertmanager, not alice/);
    });
    await withCatalogRollback({ signer: 'dana' }, async ({ handle, audit }, status, { sign: signAs }) => {
      await phase(handle, 'awaiting-approval');
      // alice and bob "join" unsigned, which would make them requesters, who may not vote.
      for (const who of ['alice', 'bob'])
        await handle.signal(triggerSignal, { source: 'manual', actor: who, reason: 'me too', requestId: randomUUID() } satisfies Trigger);
      await waitFor(async () => (audit.filter((e) => e.action === 'rollback.join-refused').length === 2 ? true : undefined), 'both joins refused');
      assert.match(audit.find((e) => e.action === 'rollback.join-refused')?.details.refusal as string, /signed decision required/);
      for (const approver of ['alice', 'bob']) {
        const run = (await handle.describe()).runId;
        const reason = `${approver} checked`;
        const signed = await signAs(approver, { action: ROLLBACK_DECISIONS.approve, workflowId: handle.workflowId, actor: approver, reason, extra: { run } });
        await handle.executeUpdate(approveUpdate, { args: [{ actor: approver, reason, signed }] });
      }
      const s = await status();
      assert.equal(s.outcome, 'succeeded');
      assert.deepEqual(s.joins, []);
    });
  });

  it("a person's trigger must be signed: unsigned, or signed with someone else's key, is refused before anything runs", async () => {
    await withCatalogRollback({}, async ({ audit }, status) => {
      await assert.rejects(status());
      assert.match(audit.find((e) => e.action === 'rollback.failed')?.reason ?? '', /trigger refused: signed decision required/);
    });
    await withCatalogRollback({ signer: 'mallory' }, async ({ audit }, status) => {
      await assert.rejects(status());
      assert.match(audit.find((e) => e.action === 'rollback.failed')?.reason ?? '', /trigger refused: signed decision refused: unknown key/);
    });
  });
});
