// The runbook catalog as a worker reads it (activities/catalog.ts), from a directory and from a real git
// repository: runbooks by name with the sha256 of their files, the Policy and allowed_signers; every problem
// of a broken catalog named by file; a refresh that finds a broken catalog keeps the last good one; a git
// catalog picks up a new commit on its branch; and the worker refuses to start without a catalog.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { Catalog, CatalogError, catalogActivities, parseCatalogSource } from '../../activities/catalog.js';
import { Clusters, Repos, targetsWithoutEnvironments } from '../../activities/targets.js';
import { createActivities } from '../../activities/index.js';
import { toolPaths } from '../../activities/tools.js';
import { AuditLog } from '../../api/audit-file.js';
import { validateRunbook } from '../../runbook/load.js';
import { catalogTrust } from '../../activities/trust.js';
import { startWorker } from '../helpers/processes.js';
import { catalogRunbookText, sha256Digest } from '../helpers/runbooks.js';

let dir = '';
let signers = '';
const POLICY = 'apiVersion: rearguard/v1\nkind: Policy\nmetadata: { name: catalog-test }\nspec:\n  localRunbooks: [dev]\n';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rearguard-catalog-'));
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'dana', '-f', join(dir, 'dana')]);
  signers = `dana namespaces="rearguard" ${(await readFile(join(dir, 'dana.pub'), 'utf8')).trim()}\n`;
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function writeCatalog(root: string, runbooks: Record<string, string>, extra: Record<string, string> = {}): Promise<void> {
  await mkdir(join(root, 'runbooks'), { recursive: true });
  await writeFile(join(root, 'policy.yaml'), POLICY);
  await writeFile(join(root, 'allowed_signers'), signers);
  for (const [file, text] of Object.entries({ ...runbooks, ...extra })) await writeFile(join(root, file), text);
}

const runbookText = catalogRunbookText;
const sha256 = sha256Digest;
const open = (source: string, repos = new Repos({})) =>
  new Catalog({ source: parseCatalogSource(source), repos, env: {}, gitBin: 'git', workDir: join(dir, 'work'), refreshMs: 0 });

describe('runbook catalog', () => {
  it('a directory: runbooks by metadata.name with the sha256 of their file, the policy and the allowed signers', async () => {
    const root = join(dir, 'good');
    const text = runbookText('payments-prod', 'payments');
    await writeCatalog(root, { 'runbooks/payments.yaml': text, 'runbooks/web.yml': runbookText('web-prod', 'web') }, { 'runbooks/README.md': 'not a runbook' });
    const catalog = open(root);
    const s = await catalog.start();
    assert.deepEqual(
      s.runbooks.map((r) => [r.name, r.file]),
      [
        ['payments-prod', 'runbooks/payments.yaml'],
        ['web-prod', 'runbooks/web.yml'],
      ],
    );
    assert.equal(s.runbooks[0]!.digest, sha256(text), 'the digest is what sha256sum prints for the file');
    assert.equal(s.policy.metadata.name, 'catalog-test');
    assert.deepEqual(s.allowedSigners[0]!.principals, ['dana']);
    const trust = catalogTrust({}, s);
    assert.deepEqual([trust.requireSignatures, trust.localRunbooks, trust.catalog?.source], [true, ['dev'], root]);
    assert.equal(catalogTrust({ REARGUARD_REQUIRE_SIGNATURES: 'false' }, s).requireSignatures, false);
  });

  it('a broken catalog names every problem by file; a broken refresh keeps the last good catalog and reports it', async () => {
    const root = join(dir, 'broken');
    await mkdir(join(root, 'runbooks'), { recursive: true });
    await writeFile(join(root, 'runbooks/a.yaml'), runbookText('same'));
    await writeFile(join(root, 'runbooks/b.yaml'), runbookText('same'));
    await writeFile(join(root, 'runbooks/c.yaml'), 'apiVersion: rearguard/v1\nkind: Runbook\nmetadata: { name: c }\nspec: { sla: soon }\n');
    const err = await open(root)
      .start()
      .catch((e: unknown) => e);
    assert.ok(err instanceof CatalogError, String(err));
    const text = err.problems.join('\n');
    assert.match(text, /policy\.yaml: missing/);
    assert.match(text, /allowed_signers: missing/);
    assert.match(text, /runbooks\/b\.yaml: runbook same is also defined by runbooks\/a\.yaml/);
    assert.match(text, /runbooks\/c\.yaml: spec/);

    const good = join(dir, 'refresh');
    await writeCatalog(good, { 'runbooks/a.yaml': runbookText('alpha') });
    const catalog = open(good);
    const first = await catalog.start();
    await writeFile(join(good, 'policy.yaml'), 'kind: Nonsense\n');
    await assert.rejects(catalog.refresh(), CatalogError);
    assert.equal(catalog.current().revision, first.revision, 'the last good catalog stays in use');
    const index = await catalogActivities(catalog).catalogIndex({});
    assert.match(index.problems.join('\n'), /policy\.yaml/);
  });

  it('a git catalog (branch of a targets-file repository) picks up a new commit when refreshed; the runbook is known by its new digest', async () => {
    const repo = join(dir, 'catalog-repo');
    await execa('git', ['init', '--quiet', '--initial-branch=main', repo]);
    const git = (...args: string[]) => execa('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args]);
    await writeCatalog(join(repo, 'ops'), { 'runbooks/payments.yaml': runbookText('payments-prod', 'payments') });
    await git('add', '.');
    await git('commit', '--quiet', '-m', 'catalog');
    const repos = new Repos({ ops: { url: `file://${repo}`, branch: 'main', author: { name: 'r', email: 'r@example.com' } } as never });
    const catalog = open('git:ops@main:ops', repos);
    const first = await catalog.start();
    assert.equal(first.revision, (await git('rev-parse', 'HEAD')).stdout.trim());
    assert.deepEqual(
      first.runbooks.map((r) => r.name),
      ['payments-prod'],
    );
    assert.equal(first.source, 'git:ops@main:ops');

    const changed = runbookText('payments-prod', 'payments').replace('sla: 5m', 'sla: 7m');
    await writeFile(join(repo, 'ops/runbooks/payments.yaml'), changed);
    await writeFile(join(repo, 'ops/runbooks/web.yaml'), runbookText('web-prod', 'web'));
    await git('add', '.');
    await git('commit', '--quiet', '-m', 'review: payments sla 7m, web runbook');
    const second = await catalog.refresh();
    assert.equal(second.revision, (await git('rev-parse', 'HEAD')).stdout.trim());
    assert.deepEqual(
      second.runbooks.map((r) => r.name),
      ['payments-prod', 'web-prod'],
    );
    assert.equal(second.runbooks[0]!.digest, sha256(changed), 'the digest of the committed bytes');
    // A rollback triggered with the old digest is refused; the new one loads.
    const activities = catalogActivities(catalog);
    await assert.rejects(activities.catalogRunbook({ name: 'payments-prod', digest: first.runbooks[0]!.digest }), /changed between the trigger/);
    assert.equal((await activities.catalogRunbook({ name: 'payments-prod', digest: sha256(changed) })).runbook.spec.sla, 7 * 60_000);
    await assert.rejects(activities.catalogRunbook({ name: 'nope' }), /runbook nope is not in the catalog git:ops@main:ops/);
  });

  it('REARGUARD_CATALOG that is neither a directory nor git:REPO[@REF][:PATH] is refused with what was expected', () => {
    assert.throws(() => parseCatalogSource('git:'), /expected a directory, or git:REPO\[@BRANCH_OR_TAG\]\[:PATH\]/);
    assert.throws(() => parseCatalogSource('git:ops@-x'), /is not a branch or tag name/);
    assert.throws(() => parseCatalogSource('git:ops@main:../etc'), /may not contain \.\./);
    assert.deepEqual(parseCatalogSource('git:ops@v1.2:catalog/'), { kind: 'git', repo: 'ops', ref: 'v1.2', path: 'catalog' });
  });

  it("a runbook's environment must be one its targets serve: a dev runbook naming the prod cluster or repository fails preflight", async () => {
    const activities = createActivities({
      auditLog: new AuditLog(join(dir, 'preflight-audit.jsonl')),
      env: {},
      clusters: new Clusters({
        'prod-eu': { kubeconfig: '/nonexistent', environments: ['prod', 'prod-*'] },
        sandbox: { kubeconfig: '/nonexistent', environments: ['dev'] },
      }),
      repos: new Repos({ 'payments-config': { url: 'file:///nonexistent', branch: 'main', environments: ['prod'] } as never }),
      tools: toolPaths({}),
    });
    const runbook = (environment: string, cluster: string) =>
      validateRunbook({
        apiVersion: 'rearguard/v1',
        kind: 'Runbook',
        metadata: { name: `x-${environment}` },
        spec: {
          service: 'payments',
          environment,
          cluster,
          sla: '5m',
          steps: [
            { type: 'kubernetes', namespace: 'payments', deployment: 'api', toRevision: 'previous' },
            { type: 'gitops', repo: 'payments-config', revert: { commit: 'HEAD' } },
          ],
        },
      });
    const devOnProd = runbook('dev', 'prod-eu');
    assert.ok(devOnProd.ok);
    const problems = await activities.preflight({ runbook: devOnProd.value });
    assert.deepEqual(problems, [
      'spec.steps[0]: cluster prod-eu serves environment(s) prod, prod-*, not dev (its environments in the targets file): a dev runbook may not act on it',
      'spec.steps[1]: repository payments-config serves environment(s) prod, not dev (its environments in the targets file): a dev runbook may not act on it',
    ]);
    const prodEu = runbook('prod-eu', 'prod-eu');
    assert.ok(prodEu.ok);
    assert.deepEqual(await activities.preflight({ runbook: prodEu.value }), [
      'spec.steps[1]: repository payments-config serves environment(s) prod, not prod-eu (its environments in the targets file): a prod-eu runbook may not act on it',
    ]);
    assert.deepEqual(targetsWithoutEnvironments({ clusters: { a: { kubeconfig: 'k' } }, repos: {} } as never), ['clusters.a']);
  });

  it('a worker started without a catalog outside development mode refuses to start and says what to configure', async () => {
    const err = await startWorker({ REARGUARD_DEV_MODE: '', REARGUARD_CATALOG: '', TEMPORAL_ADDRESS: '127.0.0.1:1' }).catch((e: Error) => e);
    assert.ok(err instanceof Error);
    assert.match(err.message, /no runbook catalog: set --catalog \(env REARGUARD_CATALOG\)/);
    assert.match(err.message, /npm start/);
  });
});
