// Rearguard's own alerting rules (deploy/prometheus/rearguard-alerts.yaml), checked by the tool that owns the format:
// `promtool check rules` (syntax, PromQL, templates) and `promtool test rules` (each alert fires on the series that
// should fire it, with its labels and rendered annotations, and resolves). That the metrics they read exist on a real
// worker's and serve's /metrics is test/e2e/observability.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { prometheusToolPath } from '../helpers/prometheus.js';
import { ROOT } from '../helpers/tools.js';

const run = promisify(execFile);
const dir = join(ROOT, 'deploy/prometheus');

describe('alerting rules for Rearguard itself', () => {
  it('pass promtool check rules: the five alerts the operations guide names', async () => {
    const { stdout } = await run(prometheusToolPath('promtool'), ['check', 'rules', 'rearguard-alerts.yaml'], { cwd: dir });
    assert.match(stdout, /SUCCESS: 5 rules found/);
  });

  it('pass promtool test rules: each fires when it should, with its labels and annotations, and resolves', async () => {
    const { stdout } = await run(prometheusToolPath('promtool'), ['test', 'rules', 'rearguard-alerts.test.yaml'], { cwd: dir });
    assert.match(stdout, /SUCCESS/);
  });

  it('promtool test rules fails when an alert does not fire as expected (the test can fail)', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'rearguard-rules-'));
    try {
      await copyFile(join(dir, 'rearguard-alerts.yaml'), join(tmp, 'rearguard-alerts.yaml'));
      // The SLA breach alert with a threshold nothing in the test reaches.
      const rules = await readFile(join(tmp, 'rearguard-alerts.yaml'), 'utf8');
      await writeFile(
        join(tmp, 'rearguard-alerts.yaml'),
        rules.replace('increase(rearguard_rollback_sla_breaches_total[10m]) > 0', 'increase(rearguard_rollback_sla_breaches_total[10m]) > 5'),
      );
      await copyFile(join(dir, 'rearguard-alerts.test.yaml'), join(tmp, 'rearguard-alerts.test.yaml'));
      await assert.rejects(
        run(prometheusToolPath('promtool'), ['test', 'rules', 'rearguard-alerts.test.yaml'], { cwd: tmp }),
        (err: Error & { stdout?: string; stderr?: string }) => /FAILED[\s\S]*RearguardRollbackSLABreached/.test(`${err.stdout ?? ''}${err.stderr ?? ''}`),
      );
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
