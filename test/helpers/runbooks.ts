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
