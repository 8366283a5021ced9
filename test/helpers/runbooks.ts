import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { validateRunbook } from '../../runbook/load.js';
import type { Runbook } from '../../runbook/schema.js';

/** A valid runbook with webhook steps; `spec` fields override the defaults. */
export function makeRunbook(spec: Record<string, unknown> = {}, name = 'test-runbook'): Runbook {
  const doc = {
    apiVersion: 'rearguard/v1',
    kind: 'Runbook',
    metadata: { name },
    spec: {
      service: 'payments',
      environment: 'prod',
      sla: '5m',
      approval: { required: true, approvers: ['alice', 'bob', 'carol'], quorum: 1, timeout: '10m' },
      escalation: [
        { at: '50%', notify: ['oncall'] },
        { at: '100%', notify: ['oncall', 'incident'] },
      ],
      steps: [
        { name: 'switch-traffic', type: 'webhook', url: 'http://127.0.0.1:9/switch' },
        { name: 'restore-config', type: 'webhook', url: 'http://127.0.0.1:9/restore' },
        { name: 'announce', type: 'webhook', url: 'http://127.0.0.1:9/announce' },
      ],
      notify: [
        { name: 'oncall', type: 'slack', url: 'http://127.0.0.1:9/slack' },
        { name: 'incident', type: 'webhook', url: 'http://127.0.0.1:9/incident' },
      ],
      ...spec,
    },
  };
  const result = validateRunbook(doc);
  if (!result.ok) throw new Error(`test runbook is invalid:\n${result.problems.join('\n')}`);
  return result.value;
}

/** A dev rollback runbook (YAML) of webhook steps, each POSTing to `<url>/<service>/<step>`, verified over HTTP. */
export function webhookRunbookYaml(service: string, url: string, steps: string[]): string {
  return `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${service}-dev }
spec:
  service: ${service}
  environment: dev
  sla: 5m
  steps:
${steps.map((step) => `    - { name: ${step}, type: webhook, url: "${url}/${service}/${step}" }`).join('\n')}
  verify:
    - { type: http, url: "${url}/${service}/healthz" }
`;
}

/** A catalog runbook file as people write it (durations as text): one webhook step on prod. */
export const catalogRunbookText = (name: string, service = name): string =>
  stringify({
    apiVersion: 'rearguard/v1',
    kind: 'Runbook',
    metadata: { name },
    spec: { service, environment: 'prod', sla: '5m', steps: [{ name: 'switch', type: 'webhook', url: 'http://127.0.0.1:9/switch' }] },
  });

/** The digest the catalog gives a file: `sha256:` and the hex, as sha256sum prints it. */
export const sha256Digest = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;
