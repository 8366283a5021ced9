// A table of runbooks and the exact `path: message` lines a user sees for each.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { parseRunbook } from '../../runbook/load.js';

const example = readFileSync(new URL('../../runbooks/payments-prod.yaml', import.meta.url), 'utf8');

/** The example runbook with one change applied to its parsed form. */
function variant(change: (doc: { metadata: Record<string, unknown>; spec: Record<string, unknown> & { steps: Record<string, unknown>[] } }) => void): string {
  const doc = parse(example);
  change(doc);
  return stringify(doc);
}

const invalid: [string, string, string[]][] = [
  ['missing field of a step', variant((d) => delete d.spec.steps[1].deployment), ['spec.steps[1].deployment: Required']],
  [
    'bad SLA duration',
    variant((d) => (d.spec.sla = '5 minutes')),
    ['spec.sla: expected a duration like 90s, 5m, 2h (at least 1s, at most 7d), got "5 minutes"'],
  ],
  [
    'bad step timeout',
    variant((d) => (d.spec.steps[0].timeout = '1.5h')),
    ['spec.steps[0].timeout: expected a duration like 90s, 5m, 2h (at least 1s, at most 7d), got "1.5h"'],
  ],
  ['unknown top-level spec key', variant((d) => (d.spec.aproval = { required: true })), ['spec.aproval: unknown key']],
  ['unknown key in a step', variant((d) => (d.spec.steps[2].revison = 3)), ['spec.steps[2].revison: unknown key']],
  [
    'quorum larger than approvers',
    variant((d) => (d.spec.approval = { required: true, approvers: ['alice'], quorum: 2, timeout: '10m' })),
    ['spec.approval.quorum: quorum 2 is larger than the 1 listed approver(s)'],
  ],
  [
    'DNS-1123-invalid names',
    variant((d) => {
      d.metadata.name = 'Payments_Prod';
      d.spec.steps[1].namespace = '-payments';
    }),
    [
      "metadata.name: expected a DNS-1123 name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters",
      "spec.steps[1].namespace: expected a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
    ],
  ],
  [
    'duplicate step names',
    variant((d) => {
      d.spec.steps[0].name = 'switch';
      d.spec.steps[3].name = 'switch';
    }),
    ['spec.steps[3].name: duplicate step name "switch" (also spec.steps[0])'],
  ],
  [
    'unknown step type',
    variant((d) => (d.spec.steps[0] = { type: 'ansible', playbook: 'x.yml' })),
    ['spec.steps[0].type: expected type to be one of blueGreen, kubernetes, helm, gitops, terraform, webhook'],
  ],
  ['toRevision 0', variant((d) => (d.spec.steps[1].toRevision = 0)), ['spec.steps[1].toRevision: expected a number > 0']],
  [
    'escalation to an unknown target',
    variant((d) => (d.spec.escalation = [{ at: '50%', notify: ['pager'] }])),
    ['spec.escalation[0].notify[0]: unknown notify target "pager" (defined in spec.notify: oncall, incident-channel)'],
  ],
  [
    'escalation after the SLA',
    variant((d) => (d.spec.escalation = [{ at: '10m', notify: ['oncall'] }])),
    ['spec.escalation[0].at: escalation at 10m is after the SLA (5m)'],
  ],
  [
    'webhook with neither url nor urlEnv',
    variant((d) => (d.spec.steps[5] = { type: 'webhook' })),
    ['spec.steps[5].url: expected exactly one of url or urlEnv'],
  ],
  [
    'git ref that looks like a flag',
    variant((d) => (d.spec.steps[4].toRef = '--upload-pack=evil')),
    ["spec.steps[4].toRef: expected a plain value (letters, digits, '._/-@^~'), not starting with '-'"],
  ],
  [
    'wrong apiVersion and kind',
    variant((d) => Object.assign(d, { apiVersion: 'v1', kind: 'Deployment' })),
    ['apiVersion: expected rearguard/v1', 'kind: expected Runbook'],
  ],
  ['no steps', variant((d) => (d.spec.steps = [])), ['spec.steps: expected at least one step']],
  [
    'approver list empty while required',
    variant((d) => (d.spec.approval = { required: true, approvers: [] })),
    ['spec.approval.approvers: expected at least one approver when approval is required'],
  ],
  [
    'several problems at once are all reported',
    variant((d) => {
      d.spec.sla = 'soon';
      delete d.spec.steps[1].deployment;
      d.spec.approval = { required: true, approvers: ['alice'], quorum: 3 };
    }),
    [
      'spec.sla: expected a duration like 90s, 5m, 2h (at least 1s, at most 7d), got "soon"',
      'spec.steps[1].deployment: Required',
      'spec.approval.quorum: quorum 3 is larger than the 1 listed approver(s)',
    ],
  ],
  [
    'YAML syntax error with line and column',
    'apiVersion: rearguard/v1\nkind: Runbook\nspec:\n  steps: [ { type: webhook\n  sla: 5m\n',
    [
      'line 5, column 3: Flow map in block collection must be sufficiently indented and end with a }',
      'line 5, column 3: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  ],
  ['duplicate YAML key', 'apiVersion: rearguard/v1\nkind: Runbook\nkind: Runbook\n', ['line 3, column 1: Map keys must be unique']],
  [
    "an explicit step name equal to another step's default name",
    variant((d) => (d.spec.steps[0].name = 'kubernetes-2')),
    ['spec.steps[1].name: this step would be named "kubernetes-2" (its default), which spec.steps[0] already uses: give it a name'],
  ],
  [
    "an explicit check name equal to another check's default name",
    variant((d) => ((d.spec.verify as Record<string, unknown>[])[0].name = 'http-2')),
    ['spec.verify[1].name: this check would be named "http-2" (its default), which spec.verify[0] already uses: give it a name'],
  ],
  ['a huge SLA', variant((d) => (d.spec.sla = '99999999999h')), ['spec.sla: expected at most 7d, got 99999999999h']],
  ['an SLA over the cap', variant((d) => (d.spec.sla = '8d')), ['spec.sla: expected at most 7d, got 8d']],
  [
    'an http check polling every 0s',
    variant((d) => ((d.spec.verify as Record<string, unknown>[])[1].interval = '0s')),
    ['spec.verify[1].interval: expected at least 1s, got 0s'],
  ],
  [
    'a duration that is a number',
    variant((d) => (d.spec.approval = { required: true, approvers: ['alice'], timeout: 600 })),
    ['spec.approval.timeout: expected a duration like 90s, 5m, 2h (at least 1s, at most 7d), got number 600'],
  ],
  ['freezeAfter over a year', variant((d) => (d.spec.freezeAfter = '400d')), ['spec.freezeAfter: expected at most 366d, got 400d']],
  ['YAML nested without bound', `${'['.repeat(100)}`, ['line 1, column 65: nested too deeply (more than 64 levels of [ and {)']],
];

describe('runbook schema', () => {
  it('accepts the full example with every step and check type', () => {
    const r = parseRunbook(example);
    assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
    assert.deepEqual(
      r.value.spec.steps.map((s) => s.name),
      ['bluegreen-1', 'kubernetes-2', 'helm-3', 'gitops-4', 'terraform-5', 'webhook-6'],
    );
    assert.equal(r.value.spec.notify[0].urlEnv, 'ONCALL_SLACK_WEBHOOK', 'webhookUrlEnv is normalised to urlEnv');
  });

  it('accepts a minimal runbook and fills defaults', () => {
    const r = parseRunbook(
      'apiVersion: rearguard/v1\nkind: Runbook\nmetadata: { name: m }\nspec:\n  service: s\n  environment: dev\n  sla: 90s\n  steps: [{ type: webhook, urlEnv: HOOK }]\n',
    );
    assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
    assert.equal(r.value.spec.steps[0].type === 'webhook' && r.value.spec.steps[0].method, 'POST');
    assert.deepEqual(r.value.spec.verify, []);
  });

  it('parses combined durations once, to milliseconds (1h30m approval and step timeouts)', () => {
    const r = parseRunbook(
      variant((d) => {
        d.spec.approval = { required: true, approvers: ['alice'], timeout: '1h30m' };
        d.spec.steps[0].timeout = '1h30m';
        d.spec.escalation = [
          { at: '50%', notify: ['oncall'] },
          { at: '2m30s', notify: ['oncall'] },
        ];
      }),
    );
    assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
    assert.equal(r.value.spec.approval?.timeout, 5_400_000);
    assert.equal(r.value.spec.steps[0].timeout, 5_400_000);
    assert.equal(r.value.spec.sla, 300_000);
    assert.deepEqual(
      r.value.spec.escalation.map((e) => e.at),
      ['50%', 150_000],
    );
    assert.equal(r.value.spec.freezeAfter, 86_400_000);
  });

  for (const [name, text, expected] of invalid) {
    it(`reports ${name}`, () => {
      const r = parseRunbook(text);
      assert.equal(r.ok, false);
      assert.deepEqual(r.ok ? [] : r.problems, expected);
    });
  }
});
