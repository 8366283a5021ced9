// The Policy document (runbook/policy.ts): validation as `path: message` lines, the static egress check of a
// runbook against it, and the addresses Rearguard never connects to.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { egressProblems, egressRefusals, hostMatches, isForbiddenAddress, loadPolicy, parsePolicy, validatePolicy, type Policy } from '../../runbook/policy.js';
import { makeRunbook } from '../helpers/runbooks.js';

const POLICY = `
apiVersion: rearguard/v1
kind: Policy
metadata: { name: production }
spec:
  localRunbooks: [dev]
  groups: { sre: [alice, bob] }
  environments: []
  egress:
    secrets:
      - { env: SLACK_WEBHOOK_URL, hosts: [hooks.slack.com] }
      - { env: PAGER_TOKEN, hosts: [events.pagerduty.com, "*.pagerduty.com"] }
    hosts: [status.example.com, "*.internal.example.com", "127.0.0.1"]
`;

function policy(text = POLICY): Policy {
  const loaded = parsePolicy(text);
  if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
  return loaded.value;
}

const base = (egress: unknown, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'rearguard/v1',
  kind: 'Policy',
  metadata: { name: 'p' },
  spec: { egress, ...extra },
});

describe('Policy validation', () => {
  it('accepts the documented example and fills the defaults', () => {
    const p = policy();
    assert.equal(p.metadata.name, 'production');
    assert.deepEqual(p.spec.localRunbooks, ['dev']);
    assert.deepEqual(p.spec.groups, { sre: ['alice', 'bob'] });
    assert.deepEqual(p.spec.egress.hosts, ['status.example.com', '*.internal.example.com', '127.0.0.1']);
    const minimal = validatePolicy({ apiVersion: 'rearguard/v1', kind: 'Policy', metadata: { name: 'empty' }, spec: {} });
    assert.ok(minimal.ok);
    assert.deepEqual(minimal.value.spec, { localRunbooks: [], groups: {}, environments: [], egress: { secrets: [], hosts: [] } });
  });

  it('canonicalises host patterns (case, trailing dot, IPv6 brackets)', () => {
    const r = validatePolicy(base({ hosts: ['Status.Example.COM.', '[::1]', '*.Example.org'] }));
    assert.ok(r.ok);
    assert.deepEqual(r.value.spec.egress.hosts, ['status.example.com', '::1', '*.example.org']);
  });

  const invalid: [string, unknown, string[]][] = [
    ['wrong kind', { apiVersion: 'rearguard/v1', kind: 'Runbook', metadata: { name: 'p' }, spec: {} }, ['kind: expected Policy']],
    [
      'a URL instead of a host, a bare wildcard, a port',
      base({ hosts: ['https://hooks.slack.com', '*', 'example.com:443'] }),
      [
        'spec.egress.hosts[0]: expected a host name, an IP address or *. followed by a domain (no scheme, port or path), got "https://hooks.slack.com"',
        'spec.egress.hosts[1]: expected a host name, an IP address or *. followed by a domain (no scheme, port or path), got "*"',
        'spec.egress.hosts[2]: expected a host name, an IP address or *. followed by a domain (no scheme, port or path), got "example.com:443"',
      ],
    ],
    [
      'a secret without hosts, a bad variable name, one listed twice',
      base({
        secrets: [
          { env: 'A', hosts: [] },
          { env: 'not-a-var', hosts: ['x.example.com'] },
          { env: 'A', hosts: ['y.example.com'] },
        ],
      }),
      [
        'spec.egress.secrets[0].hosts: expected at least one host the secret may be sent to',
        'spec.egress.secrets[1].env: expected an environment variable name such as SLACK_WEBHOOK_URL',
        'spec.egress.secrets[2].env: A is listed twice (also at secrets[0])',
      ],
    ],
    [
      'a secret listed twice',
      base({
        secrets: [
          { env: 'A', hosts: ['x.example.com'] },
          { env: 'A', hosts: ['y.example.com'] },
        ],
      }),
      ['spec.egress.secrets[1].env: A is listed twice (also at secrets[0])'],
    ],
    ['unknown keys', base({ hostz: [] }, { egres: {} }), ['spec.egres: unknown key', 'spec.egress.hostz: unknown key']],
    [
      'groups of bad names',
      base({}, { groups: { SRE: ['alice'] } }),
      [
        `spec.groups.SRE: group name: expected a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`,
      ],
    ],
  ];
  for (const [name, doc, problems] of invalid) {
    it(`refuses ${name}`, () => {
      const r = validatePolicy(doc);
      assert.equal(r.ok, false);
      assert.deepEqual(r.ok ? [] : [...r.problems].sort(), [...problems].sort());
    });
  }

  it('reports YAML errors with their line and a missing file as io', async () => {
    const r = parsePolicy('apiVersion: rearguard/v1\nkind: [Policy\n');
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.problems[0], /^line \d+, column \d+: /);
    const dir = await mkdtemp(join(tmpdir(), 'policy-'));
    try {
      const missing = await loadPolicy(join(dir, 'nope.yaml'));
      assert.deepEqual(missing, { ok: false, problems: [`${join(dir, 'nope.yaml')}: no such file`], io: true });
      await writeFile(join(dir, 'p.yaml'), POLICY);
      const ok = await loadPolicy(join(dir, 'p.yaml'));
      assert.ok(ok.ok);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe('egressProblems (static check of a runbook)', () => {
  const p = policy();
  const webhook = (fields: Record<string, unknown>) =>
    makeRunbook({
      steps: [
        { name: 'a', type: 'webhook', url: 'http://127.0.0.1:9/a' },
        { name: 'b', type: 'webhook', ...fields },
      ],
      notify: [],
      escalation: [],
    });

  it('accepts listed secrets sent to their hosts and literal URLs to listed hosts', () => {
    // A literal URL's host must be in spec.egress.hosts even when the secret it carries may go there.
    const pager = policy(POLICY.replace('hosts: [status.example.com,', 'hosts: [events.pagerduty.com, status.example.com,'));
    const rb = makeRunbook({
      steps: [
        { name: 'page', type: 'webhook', url: 'https://events.pagerduty.com/v2/enqueue', headersFromEnv: { Authorization: 'PAGER_TOKEN' } },
        { name: 'status', type: 'webhook', url: 'https://status.example.com/incidents' },
        { name: 'internal', type: 'webhook', url: 'http://deploy.eu.internal.example.com/rollback' },
        { name: 'secret-url', type: 'webhook', urlEnv: 'SLACK_WEBHOOK_URL' },
      ],
      verify: [{ type: 'http', url: 'http://127.0.0.1:8080/healthz' }],
      notify: [{ name: 'oncall', type: 'slack', webhookUrlEnv: 'SLACK_WEBHOOK_URL' }],
      escalation: [],
    });
    assert.deepEqual(egressProblems(rb, pager), []);
    assert.deepEqual(egressProblems(rb, p), ["spec.steps[0].url: host events.pagerduty.com is not in the policy's spec.egress.hosts"]);
  });

  it('reports a secret the policy does not list', () => {
    assert.deepEqual(egressProblems(webhook({ urlEnv: 'AWS_SECRET_ACCESS_KEY' }), p), [
      "spec.steps[1].urlEnv: environment variable AWS_SECRET_ACCESS_KEY is not listed in the policy's spec.egress.secrets",
    ]);
    assert.deepEqual(egressProblems(webhook({ url: 'https://status.example.com/x', headersFromEnv: { 'X-Token': 'GITHUB_TOKEN' } }), p), [
      "spec.steps[1].headersFromEnv.X-Token: environment variable GITHUB_TOKEN is not listed in the policy's spec.egress.secrets",
    ]);
  });

  it('reports a secret sent to a host its entry does not allow', () => {
    assert.deepEqual(egressProblems(webhook({ url: 'https://status.example.com/x', headersFromEnv: { Authorization: 'PAGER_TOKEN' } }), p), [
      'spec.steps[1].headersFromEnv.Authorization: environment variable PAGER_TOKEN may not be sent to status.example.com (the policy allows events.pagerduty.com, *.pagerduty.com)',
    ]);
  });

  it('reports literal URLs to hosts not in spec.egress.hosts, in steps, checks, notify targets and the SLO health check', () => {
    const rb = makeRunbook({
      steps: [{ name: 'a', type: 'webhook', url: 'https://attacker.example.net/collect' }],
      verify: [{ type: 'http', url: 'http://169.254.169.254/latest/meta-data/' }],
      notify: [{ name: 'oncall', type: 'webhook', url: 'https://internal.example.com/hook' }],
      escalation: [],
      slo: { conditions: [], health: { http: { url: 'http://example.com/health' } } },
    });
    assert.deepEqual(egressProblems(rb, p), [
      "spec.steps[0].url: host attacker.example.net is not in the policy's spec.egress.hosts",
      "spec.verify[0].url: host 169.254.169.254 is not in the policy's spec.egress.hosts",
      // *.internal.example.com matches names under it, not internal.example.com itself
      "spec.notify[0].url: host internal.example.com is not in the policy's spec.egress.hosts",
      "spec.slo.health.http.url: host example.com is not in the policy's spec.egress.hosts",
    ]);
  });

  it('matches wildcards on one or more labels, never on a look-alike suffix', () => {
    assert.ok(hostMatches(['*.pagerduty.com'], 'events.pagerduty.com'));
    assert.ok(hostMatches(['*.pagerduty.com'], 'a.b.pagerduty.com'));
    assert.ok(!hostMatches(['*.pagerduty.com'], 'pagerduty.com'));
    assert.ok(!hostMatches(['*.pagerduty.com'], 'evilpagerduty.com'));
    assert.ok(!hostMatches(['*.pagerduty.com'], 'pagerduty.com.attacker.net'));
    assert.deepEqual(egressProblems(webhook({ url: 'https://eu.events.pagerduty.com/x', headersFromEnv: { Authorization: 'PAGER_TOKEN' } }), p), [
      "spec.steps[1].url: host eu.events.pagerduty.com is not in the policy's spec.egress.hosts",
    ]);
  });

  it('decides a run-time request (URL from an environment variable) by its host', () => {
    assert.deepEqual(egressRefusals(p, { host: 'hooks.slack.com', literal: false, secrets: ['SLACK_WEBHOOK_URL'] }), []);
    assert.deepEqual(egressRefusals(p, { host: 'attacker.example.net', literal: false, secrets: ['SLACK_WEBHOOK_URL'] }), [
      'environment variable SLACK_WEBHOOK_URL may not be sent to attacker.example.net (the policy allows hooks.slack.com)',
    ]);
    assert.deepEqual(egressRefusals(p, { host: '127.0.0.1', literal: true, secrets: [] }), []);
  });
});

describe('isForbiddenAddress', () => {
  const forbidden: [string, RegExp][] = [
    ['169.254.169.254', /metadata address 169\.254\.169\.254/],
    ['::ffff:169.254.169.254', /metadata address 169\.254\.169\.254, in its IPv4-mapped IPv6 form/],
    ['::ffff:a9fe:a9fe', /IPv4-mapped/],
    ['[::ffff:a9fe:a9fe]', /IPv4-mapped/],
    ['fe80::1', /link-local address \(fe80::\/10\)/],
    ['fe80::1%eth0', /link-local/],
    ['febf:ffff::1', /link-local/],
    ['fd00:ec2::254', /metadata address fd00:ec2::254/],
    ['100.100.100.200', /metadata address 100\.100\.100\.200/],
    ['169.254.1.2', /link-local address \(169\.254\.0\.0\/16\)/],
    ['::ffff:169.254.1.2', /link-local address \(169\.254\.0\.0\/16\), in its IPv4-mapped IPv6 form/],
    ['64:ff9b::169.254.169.254', /NAT64/],
  ];
  for (const [ip, why] of forbidden) it(`refuses ${ip}`, () => assert.match(isForbiddenAddress(ip) ?? '(allowed)', why));

  for (const ip of [
    '127.0.0.1',
    '::1',
    '10.0.0.1',
    '192.168.1.1',
    '8.8.8.8',
    '::ffff:127.0.0.1',
    'fec0::1',
    '2001:db8::1',
    'fd00:ec2::253',
    'localhost',
    'not-an-ip',
  ])
    it(`allows ${ip}`, () => assert.equal(isForbiddenAddress(ip), undefined));
});
