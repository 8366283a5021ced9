// The repeat rule's pure parts (runbook/repeat.ts): which targets are relative, how an explicit target
// (`rollback start --to-revision N [--step NAME]`) is resolved, and the records Rearguard reads back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rollbackCommitRecord } from '../../activities/gitops.js';
import { restoredState } from '../../activities/kubernetes/rollout.js';
import {
  alreadyRestoredMessage,
  hasRelativeTarget,
  isFullCommitId,
  parseRestoreRecord,
  resolveExplicitTarget,
  withExplicitTarget,
} from '../../runbook/repeat.js';
import type { Step } from '../../runbook/schema.js';
import { makeRunbook } from '../helpers/runbooks.js';

const SHA = 'a'.repeat(40);
const steps = (list: Record<string, unknown>[]): Step[] => makeRunbook({ steps: list }).spec.steps;

describe('repeat rule', () => {
  it('treats previous and non-SHA git refs as relative, everything named exactly as explicit', () => {
    const [k8sPrev, k8sN, helmPrev, helmN, head, tip, sha, shas, mixed, toRefTag, toRefSha, bg, tf, hook] = steps([
      { type: 'kubernetes', namespace: 'a', deployment: 'api' },
      { type: 'kubernetes', namespace: 'a', deployment: 'api', toRevision: 3 },
      { type: 'helm', namespace: 'a', release: 'web', toRevision: 'previous' },
      { type: 'helm', namespace: 'a', release: 'web', toRevision: 2 },
      { type: 'gitops', repo: 'cfg', revert: { commit: 'HEAD' } },
      { type: 'gitops', repo: 'cfg', revert: { commit: 'HEAD~1' } },
      { type: 'gitops', repo: 'cfg', revert: { commit: SHA } },
      { type: 'gitops', repo: 'cfg', revert: { commits: [SHA, 'b'.repeat(40)] } },
      { type: 'gitops', repo: 'cfg', revert: { commits: [SHA, 'abc1234'] } },
      { type: 'gitops', repo: 'cfg', revert: { toRef: 'v1.25' } },
      { type: 'gitops', repo: 'cfg', revert: { toRef: 'c'.repeat(64) } },
      { type: 'blueGreen', namespace: 'a', service: 'web', selector: { track: 'blue' } },
      { type: 'terraform', repo: 'infra', workingDir: 'tf', toRef: 'v1' },
      { type: 'webhook', url: 'http://127.0.0.1:9/x' },
    ]);
    assert.deepEqual([k8sPrev, k8sN, helmPrev, helmN, head, tip, sha, shas, mixed, toRefTag, toRefSha, bg, tf, hook].map(hasRelativeTarget), [
      true,
      false,
      true,
      false,
      true,
      true,
      false,
      false,
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
    assert.equal(isFullCommitId('ABCDEF'.padEnd(40, '0')), false, 'upper case is not how git prints ids');
  });

  it('resolves --to-revision to the only kubernetes/helm step, or the one --step names, and explains refusals', () => {
    const one = steps([
      { name: 'drain', type: 'webhook', url: 'http://127.0.0.1:9/x' },
      { name: 'undo', type: 'kubernetes', namespace: 'a', deployment: 'api' },
    ]);
    assert.deepEqual(resolveExplicitTarget(one, 3), { ok: true, target: { step: 'undo', toRevision: 3 } });
    assert.deepEqual(resolveExplicitTarget(one, 3, 'drain'), {
      ok: false,
      message: '--step: step drain is a webhook step; only kubernetes and helm steps take a revision (undo)',
    });
    assert.deepEqual(resolveExplicitTarget(one, 3, 'nope'), { ok: false, message: '--step: the runbook has no step nope (kubernetes and helm steps: undo)' });
    const two = steps([
      { name: 'api', type: 'kubernetes', namespace: 'a', deployment: 'api' },
      { name: 'web', type: 'helm', namespace: 'a', release: 'web' },
    ]);
    assert.deepEqual(resolveExplicitTarget(two, 2), {
      ok: false,
      message: '--to-revision: the runbook has several kubernetes/helm steps (api, web): name one with --step',
    });
    assert.deepEqual(resolveExplicitTarget(two, 2, 'web'), { ok: true, target: { step: 'web', toRevision: 2 } });
    const none = steps([{ name: 'drain', type: 'webhook', url: 'http://127.0.0.1:9/x' }]);
    assert.equal(resolveExplicitTarget(none, 2).ok, false);

    const [api, web] = two;
    assert.deepEqual(withExplicitTarget(web, { step: 'web', toRevision: 2 }), { ...web, toRevision: 2 });
    assert.equal(withExplicitTarget(api, { step: 'web', toRevision: 2 }), api, 'other steps keep their target');
    assert.equal(hasRelativeTarget(withExplicitTarget(web, { step: 'web', toRevision: 2 })), false);
  });

  it('reads back only well-formed records, and says what happened in one line', () => {
    assert.equal(parseRestoreRecord(undefined), undefined);
    assert.equal(parseRestoreRecord('{not json'), undefined);
    assert.equal(parseRestoreRecord('{"revision":4}'), undefined, 'no by/at: not a record Rearguard wrote');
    const r = parseRestoreRecord(JSON.stringify({ revision: 4, restoredTo: 'revision 4', by: 'rollback:prod:api', at: '2026-11-29T10:00:00Z', detail: 'd' }));
    assert.equal(r?.revision, 4);
    assert.equal(alreadyRestoredMessage(r!), 'already rolled back to revision 4 by rollback:prod:api at 2026-11-29T10:00:00Z; the condition persists');
  });

  it("takes a Deployment's record only while it is at that revision with that revision's template", () => {
    const template = (tag: string) => ({ metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: `api:${tag}` }] } });
    const rs = (revision: number, tag: string) => ({
      metadata: { name: `api-${revision}`, annotations: { 'deployment.kubernetes.io/revision': String(revision) } },
      spec: { template: { ...template(tag), metadata: { labels: { app: 'api', 'pod-template-hash': `h${revision}` } } } },
    });
    const record = { revision: 4, restoredTo: 'revision 4', by: 'rollback:prod:api', at: '2026-11-29T10:00:00Z', detail: 'd' };
    const dep = (revision: number, tag: string, annotation = JSON.stringify(record)) => ({
      metadata: { annotations: { 'deployment.kubernetes.io/revision': String(revision), 'rearguard.io/restored': annotation } },
      spec: { template: template(tag) },
    });
    const sets = [rs(4, '1.25'), rs(3, '1.27'), rs(1, '1.24')];
    assert.deepEqual(restoredState(dep(4, '1.25'), sets), record);
    assert.equal(restoredState(dep(5, '1.28'), [rs(5, '1.28'), ...sets]), undefined, 'a new deploy (new revision) re-arms');
    assert.equal(restoredState(dep(4, '1.28'), sets), undefined, 'a new template before the controller bumped the revision re-arms too');
    assert.equal(restoredState(dep(4, '1.25', 'edited by hand'), sets), undefined);
  });

  it('recognises Rearguard rollback commits by their trailers, and nothing else', () => {
    const message = [
      'Rollback payments in prod: revert 0123456789ab',
      '',
      `Reverts ${SHA} "api 1.27"`,
      '',
      'Reason: api 5xx',
      'Requested-by: dave',
      'Workflow: rollback:prod:payments',
      'Rearguard-Rollback: rollback:prod:payments/run-7/config',
      `Rearguard-Reverts: ${SHA}`,
    ].join('\n');
    const r = rollbackCommitRecord('f'.repeat(40), '2026-11-29T10:00:00+00:00', message, 'git cfg@main');
    assert.deepEqual(r, {
      revision: 'f'.repeat(40),
      restoredTo: 'commit ffffffffffff',
      by: 'rollback:prod:payments',
      runId: 'run-7',
      at: '2026-11-29T10:00:00+00:00',
      detail: 'git cfg@main at ffffffffffff "Rollback payments in prod: revert 0123456789ab" (reverts aaaaaaaaaaaa)',
    });
    assert.equal(rollbackCommitRecord('f'.repeat(40), 'x', 'api 1.28\n\nmentions Rearguard-Rollback: in prose', 'git cfg@main'), undefined);
  });
});
