// The freeze windows of the gate and scale scenarios: a deterministic mix of environments and services (a few
// windows freeze every service of qa; none freezes all of prod), long enough to outlast the bench, and the
// gate answers the mix implies for a few targets.
import type { FreezeWindowInput } from '../../../runbook/freeze.js';

const DAY = 86_400_000;
export const ENVIRONMENTS = ['prod', 'staging', 'qa', 'dev'];
/** Exceptions are approved by these (quorum 1); requested by someone else. */
export const APPROVERS = ['rm-bo', 'rm-cy'];
export const REQUESTER = 'dev-dave';

/** Window i: environment ENVIRONMENTS[i % 4]; services svc-i (and svc-i+1 for every 10th), or * for every 24th, which is in qa. */
export function freezeInput(i: number, nowMs: number, { prefix = 'bench', days = 300 }: { prefix?: string; days?: number } = {}): FreezeWindowInput {
  const wildcard = i % 24 === 2; // then i % 4 === 2: always qa
  return {
    name: `${prefix}-${i}`,
    scope: { environments: [ENVIRONMENTS[i % 4]], services: wildcard ? ['*'] : i % 10 === 5 ? [`svc-${i}`, `svc-${i + 1}`] : [`svc-${i}`] },
    reason: `bench freeze ${i}`,
    actor: 'rm-ann',
    start: new Date(nowMs).toISOString(),
    end: new Date(nowMs + days * DAY).toISOString(),
    exceptions: { approvers: APPROVERS, quorum: 1 },
  };
}

/** Windows that get an approved exception for change CHG-i (one in ten). */
export const hasException = (i: number): boolean => i % 10 === 4;
export const changeOf = (i: number): string => `CHG-${i}`;

export interface GateExpectation {
  env: string;
  service: string;
  change?: string;
  status: 200 | 423;
  why: string;
}

/** What the gate must answer, given windows 0..count-1 (count >= 5) are running and exceptions approved as hasException says. */
export function expectations(count: number): GateExpectation[] {
  const out: GateExpectation[] = [
    { env: 'prod', service: 'svc-0', status: 423, why: 'window 0 freezes prod/svc-0' },
    { env: 'prod', service: 'not-frozen', status: 200, why: 'no window covers prod/not-frozen' },
    { env: 'qa', service: 'anything', status: 423, why: 'window 2 freezes every service of qa' },
    { env: 'sandbox', service: 'svc-0', status: 200, why: 'no window covers sandbox' },
    { env: 'staging', service: 'svc-5', status: 423, why: 'window 5 freezes staging/svc-5 and svc-6' },
  ];
  const ex = Array.from({ length: count }, (_, i) => i).find((i) => hasException(i) && ENVIRONMENTS[i % 4] !== 'qa');
  if (ex !== undefined) {
    const [env, service] = [ENVIRONMENTS[ex % 4], `svc-${ex}`];
    out.push(
      { env, service, change: changeOf(ex), status: 200, why: `window ${ex} has an approved exception for ${changeOf(ex)}` },
      { env, service, change: 'CHG-OTHER', status: 423, why: `window ${ex}'s exception is for ${changeOf(ex)} only` },
    );
  }
  return out;
}

export const gatePath = (x: Pick<GateExpectation, 'env' | 'service' | 'change'>): string =>
  `/v1/gate?${new URLSearchParams({ env: x.env, service: x.service, ...(x.change ? { change: x.change } : {}) })}`;
