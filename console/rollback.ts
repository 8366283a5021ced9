// One rollback: its SLA with escalations, trigger and joins, approval votes, a timeline of steps and checks (bars
// placed by their start and end, with durations and results), and its audit events; live while it runs.
import type { RollbackView } from '../runbook/console-view.js';
import { shortDuration } from '../runbook/console-view.js';
import type { AuditEvent, ItemStatus } from '../runbook/types.js';
import type { RollbackCard } from '../runbook/console-view.js';
import { html } from './html.js';
import { useLive } from './live.js';
import { PHASES, Problems, Status } from './parts.js';
import { SlaBar, useClock } from './sla.js';
import { useTime } from './time.js';
import { Action } from './actions.js';
import { authFetch, errorText, useSession } from './auth.js';
import { useEffect, useState } from 'preact/hooks';

/** A result's fields as `key value` pairs (from/to revisions, images, commits), nested objects flattened one level. */
function resultPairs(result: Record<string, unknown> | undefined): [string, string][] {
  if (!result) return [];
  return Object.entries(result).flatMap(([k, v]): [string, string][] =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.entries(v as Record<string, unknown>).map(([k2, v2]): [string, string] => [`${k}.${k2}`, typeof v2 === 'string' ? v2 : JSON.stringify(v2)])
      : [[k, typeof v === 'string' ? v : JSON.stringify(v)]],
  );
}

function Timeline({ s, now }: { s: RollbackCard; now: number }) {
  const items: (ItemStatus & { kind: 'step' | 'check' })[] = [
    ...s.steps.map((i) => ({ ...i, kind: 'step' as const })),
    ...s.verify.map((i) => ({ ...i, kind: 'check' as const })),
  ];
  const start = Date.parse(s.startedAt);
  const end = Math.max(start + 1, s.endedAt ? Date.parse(s.endedAt) : now, ...items.map((i) => (i.endedAt ? Date.parse(i.endedAt) : 0)));
  const pct = (t: number) => `${(((t - start) / (end - start)) * 100).toFixed(2)}%`;
  return html`<ol class="timeline">
    ${items.map((i) => {
      const from = i.startedAt ? Date.parse(i.startedAt) : undefined;
      const to = i.endedAt ? Date.parse(i.endedAt) : i.state === 'running' ? now : undefined;
      const pairs = resultPairs(i.result);
      return html`<li class=${`item item-${i.state}`} data-item=${i.name} data-state=${i.state}>
        <div class="item-head">
          <span class="item-name">${i.kind === 'check' ? 'check ' : ''}${i.name}</span>
          <span class="muted">${i.type}</span>
          <span class=${`state state-${i.state}`}>${i.state}</span>
          ${from !== undefined && to !== undefined && html`<span class="muted">${shortDuration(to - from)}</span>`}
          ${i.attempts && i.attempts > 1 ? html`<span class="muted">${i.attempts} attempts</span>` : ''}
        </div>
        <div class="track" aria-hidden="true">
          ${
            from !== undefined &&
            html`<div class=${`span span-${i.state}`} style=${{ left: pct(from), width: `max(3px, calc(${pct(to ?? from)} - ${pct(from)}))` }}></div>`
          }
        </div>
        ${
          pairs.length > 0 &&
          html`<dl class="result">
            ${pairs.map(
              ([k, v]) =>
                html`<div>
                  <dt>${k}</dt>
                  <dd>${v}</dd>
                </div>`,
            )}
          </dl>`
        }
        ${i.error && html`<p class="error">${i.error}</p>`}
      </li>`;
    })}
  </ol>`;
}

/**
 * The rollback's audit events, for signed-in people (serve's GET /v1/audit, as the audit page reads it): read again
 * whenever the page's view changes (`version`).
 */
function RollbackAudit({ workflowId, version }: { workflowId: string; version: string }) {
  const session = useSession();
  const time = useTime();
  const [events, setEvents] = useState<{ list?: AuditEvent[]; error?: string }>({});
  useEffect(() => {
    if (!session.actor) return;
    let stop = false;
    void authFetch(`v1/audit?${new URLSearchParams({ workflow: workflowId, limit: '500' })}`)
      .then(async (r) => (r.ok ? { list: ((await r.json()) as { events: AuditEvent[] }).events } : { error: await errorText(r) }))
      .catch((err: Error) => ({ error: `cannot reach rearguard serve: ${err.message}` }))
      .then((e) => !stop && setEvents(e));
    return () => {
      stop = true;
    };
  }, [session.actor, workflowId, version]);
  if (!session.actor)
    return html`<p class="muted">
      The audit events are for signed-in people.${session.config.signIn ? html` <a href="#/sign-in">Sign in</a> to see them.` : ''}
    </p>`;
  if (events.error) return html`<p class="error" role="alert">${events.error}</p>`;
  return html`<table class="audit">
    <thead>
      <tr>
        <th scope="col">time</th>
        <th scope="col">action</th>
        <th scope="col">actor</th>
        <th scope="col">reason</th>
      </tr>
    </thead>
    <tbody>
      ${(events.list ?? []).map(
        (a) =>
          html`<tr>
            <td>${time(a.time)}</td>
            <td>${a.action}</td>
            <td>${a.actor}</td>
            <td>${a.reason}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

export function RollbackPage({ id }: { id: string }) {
  const live = useLive<RollbackView>(`view=rollback&id=${encodeURIComponent(id)}`);
  const now = useClock();
  const time = useTime();
  const v = live.view;
  const s = v?.status;
  return html`<div class="page">
    <p><a href="#/">← Now</a></p>
    <h1>${s ? `Rollback of ${s.target.service} in ${s.target.environment}` : id}</h1>
    <${Status} live=${live} />
    ${
      s &&
      html`<p>
          <span class=${`phase phase-${s.outcome ?? s.phase}`}>${s.outcome ?? PHASES[s.phase] ?? s.phase}</span>
          ${` · runbook ${s.runbook} · started ${time(s.startedAt, true)}${s.endedAt ? ` · ended ${time(s.endedAt, true)}` : ''}`}
        </p>
        ${s.failure && html`<${Problems} problems=${[`${s.failure.phase}${s.failure.item ? ` ${s.failure.item}` : ''}: ${s.failure.error}`]} />`}
        <h2>SLA</h2>
        <${SlaBar} status=${s} label=${`rollback of ${s.target.service}`} />
        <ul class="escalations">
          ${s.sla.escalations.map(
            (e) =>
              html`<li>
                ${`${e.at} after the start (${time(new Date(Date.parse(s.startedAt) + e.atMs).toISOString())}): notify ${e.notify.join(', ')}`}
                ${e.firedAt ? ` · fired ${time(e.firedAt)}` : ''}
              </li>`,
          )}
        </ul>
        <h2>Trigger</h2>
        <p>${s.trigger.actor} (${s.trigger.source}): ${s.trigger.reason}</p>
        ${
          s.joins.length > 0 &&
          html`<ul>
            ${s.joins.map((j) => html`<li>joined by ${j.actor} (${j.source}): ${j.reason}</li>`)}
          </ul>`
        }
        <h2>Approval</h2>
        ${
          s.approval.required
            ? html`<p>quorum ${s.approval.quorum} of ${s.approval.approvers.join(', ')}${s.approval.deadline ? ` · until ${time(s.approval.deadline)}` : ''}</p>
                ${
                  s.approval.votes.length
                    ? html`<ul class="votes">
                        ${s.approval.votes.map((vote) => html`<li class=${`vote vote-${vote.decision}`}>${vote.actor} ${vote.decision}d at ${time(vote.time)}: ${vote.reason}</li>`)}
                      </ul>`
                    : html`<p class="empty">No vote yet.</p>`
                }`
            : html`<p class="muted">Not required by the runbook.</p>`
        }
        ${
          !s.endedAt &&
          html`<div class="actions" aria-label="decisions">
            ${
              s.phase === 'awaiting-approval' &&
              html`<${Action}
                  label="Approve"
                  what=${`Approve the rollback of ${s.target.service} in ${s.target.environment}`}
                  path=${`v1/rollbacks/${encodeURIComponent(s.workflowId)}/approve`}
                />
                <${Action}
                  label="Reject"
                  what=${`Reject the rollback of ${s.target.service} in ${s.target.environment}`}
                  path=${`v1/rollbacks/${encodeURIComponent(s.workflowId)}/reject`}
                  danger
                />`
            }
            ${
              s.steps.some((i) => i.planApproval && !i.planApproval.approvedBy && i.state === 'running') &&
              html`<${Action}
                label="Approve plan"
                what="Approve the plan of the step waiting for it"
                path=${`v1/rollbacks/${encodeURIComponent(s.workflowId)}/approve-plan`}
              />`
            }
            <${Action}
              label="Cancel rollback"
              what=${`Cancel the rollback of ${s.target.service} in ${s.target.environment}`}
              path=${`v1/rollbacks/${encodeURIComponent(s.workflowId)}/cancel`}
              danger
            />
          </div>`
        }
        <h2>Timeline</h2>
        <${Timeline} s=${s} now=${now} />
        <h2>Audit</h2>
        <${RollbackAudit}
          workflowId=${s.workflowId}
          version=${`${s.phase}|${s.approval.votes.length}|${s.steps.map((i) => i.state).join()}|${s.outcome ?? ''}`}
        />`
    }
  </div>`;
}
