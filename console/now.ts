// "Now": what is running, for the first minutes of an incident. Running rollbacks (SLA bar, phase, who still has to
// approve), freezes active and upcoming, unfreezes in progress, guards and their last evaluation.
import type { NowView, RollbackCard } from '../runbook/console-view.js';
import type { GateEntry } from '../runbook/gate-view.js';
import type { SloGuardStatus } from '../runbook/slo-guard.js';
import type { UnfreezeStatus } from '../runbook/unfreeze-model.js';
import { html } from './html.js';
import { useLive } from './live.js';
import { SlaBar } from './sla.js';
import { useTime } from './time.js';
import { Ladder } from './unfreeze.js';
import { PHASES, Problems, Status } from './parts.js';
import { Action } from './actions.js';

/** Approvers who have not voted yet, and how many approvals are still needed. */
function pending(r: RollbackCard): { needed: number; waitingOn: string[] } | undefined {
  if (r.phase !== 'awaiting-approval' || !r.approval.required) return undefined;
  const approvals = r.approval.votes.filter((v) => v.decision === 'approve').length;
  const voted = new Set(r.approval.votes.map((v) => v.actor));
  return { needed: Math.max(0, r.approval.quorum - approvals), waitingOn: r.approval.approvers.filter((a) => !voted.has(a)) };
}

export const rollbackHref = (id: string) => `#/rollback/${encodeURIComponent(id)}`;

function RollbackRow({ r }: { r: RollbackCard }) {
  const p = pending(r);
  const name = `${r.target.service} in ${r.target.environment}`;
  const current = r.steps.find((s) => s.state === 'running') ?? r.verify.find((s) => s.state === 'running');
  return html`<li class="card rollback-card" data-workflow=${r.workflowId}>
    <div class="card-head">
      <a href=${rollbackHref(r.workflowId)} class="card-title">${name}</a>
      <span class=${`phase phase-${r.phase}`}>${PHASES[r.phase] ?? r.phase}</span>
    </div>
    <div class="muted">runbook ${r.runbook} · by ${r.trigger.actor}: ${r.trigger.reason}</div>
    <${SlaBar} status=${r} label=${name} />
    ${
      p &&
      html`<div class="approval">
        needs ${p.needed} more approval${p.needed === 1 ? '' : 's'}${p.waitingOn.length ? html` · waiting on ${p.waitingOn.join(', ')}` : ''}
      </div>`
    }
    ${current && html`<div class="muted">now: ${current.name} (${current.type})</div>`}
  </li>`;
}

function FreezeRow({ f }: { f: GateEntry }) {
  const time = useTime();
  const envs = !f.scope.environments?.length || f.scope.environments.includes('*') ? 'every environment' : f.scope.environments.join(', ');
  const services = !f.scope.services?.length || f.scope.services.includes('*') ? 'every service' : f.scope.services.join(', ');
  return html`<li class="card">
    <div class="card-head">
      <span class="card-title">${f.name}</span>
      <span class=${`phase phase-freeze-${f.phase}`}>${f.phase}</span>
    </div>
    <div>${envs} · ${services}</div>
    <div class="muted">${time(f.start, true)} → ${time(f.end, true)} · ${f.reason}</div>
    ${
      f.exceptions.length > 0 &&
      html`<ul class="exceptions">
        ${f.exceptions.map(
          (x) =>
            html`<li>
              exception ${x.changeId} for ${x.requestedBy}: ${x.reason} · <span class=${`exception-${x.status}`}>${x.status}</span>
              ${
                x.status === 'pending' &&
                html`<${Action}
                    label="Approve exception"
                    what=${`Let change ${x.changeId} through freeze ${f.name}`}
                    path=${`v1/freezes/${encodeURIComponent(f.id)}/exceptions/${encodeURIComponent(x.changeId)}/approve`}
                  />
                  <${Action}
                    label="Reject exception"
                    what=${`Refuse change ${x.changeId} during freeze ${f.name}`}
                    path=${`v1/freezes/${encodeURIComponent(f.id)}/exceptions/${encodeURIComponent(x.changeId)}/reject`}
                    danger
                  />`
              }
            </li>`,
        )}
      </ul>`
    }
    ${
      (f.phase === 'active' || f.phase === 'scheduled') &&
      html`<div class="actions">
        <${Action}
          label="Lift"
          what=${`Lift freeze ${f.name} now: deploys to its scope open again`}
          path=${`v1/freezes/${encodeURIComponent(f.id)}/lift`}
          danger
        />
      </div>`
    }
  </li>`;
}

function UnfreezeRow({ u }: { u: UnfreezeStatus }) {
  return html`<li class="card">
    <div class="card-head">
      <a class="card-title" href=${`#/unfreeze/${encodeURIComponent(u.freezeId)}`}>${u.freezeId}</a>
      <span class=${`phase phase-unfreeze-${u.phase}`}>${u.phase}</span>
    </div>
    <${Ladder} u=${u} />
  </li>`;
}

function GuardRow({ g }: { g: SloGuardStatus }) {
  const time = useTime();
  const e = g.lastEvaluation;
  return html`<li class="card">
    <div class="card-head">
      <a class="card-title" href=${`#/guard/${encodeURIComponent(g.workflowId)}`}>${g.target.service} in ${g.target.environment}</a>
      <span class=${`phase phase-guard-${g.state}`}>${g.paused ? 'paused' : g.state}</span>
    </div>
    <div class="muted">runbook ${g.runbook} · every ${g.interval} · cooldown ${g.cooldown}</div>
    ${
      e
        ? html`<div>last evaluation ${time(e.time)}: ${e.violations.length ? html`<strong>${e.violations.join('; ')}</strong>` : 'within thresholds'}</div>`
        : html`<div class="muted">not evaluated yet</div>`
    }
    ${g.triggers.length > 0 && html`<div class="muted">${g.triggers.length} trigger(s), last ${time(g.triggers.at(-1)!.time, true)}</div>`}
    <div class="actions">
      ${
        g.paused
          ? html`<${Action}
              label="Resume guard"
              what=${`Resume the SLO guard of ${g.target.service} in ${g.target.environment}`}
              path=${`v1/guards/${encodeURIComponent(g.workflowId)}/resume`}
            />`
          : html`<${Action}
              label="Pause guard"
              what=${`Pause the SLO guard of ${g.target.service} in ${g.target.environment}: it stops starting rollbacks`}
              path=${`v1/guards/${encodeURIComponent(g.workflowId)}/pause`}
              danger
            />`
      }
    </div>
  </li>`;
}

function Section<T>({ title, items, empty, row }: { title: string; items: T[]; empty: string; row: (t: T) => unknown }) {
  const id = title.toLowerCase().replace(/\W+/g, '-');
  return html`<section aria-labelledby=${id}>
    <h2 id=${id}>${title} <span class="count">${items.length}</span></h2>
    ${
      items.length
        ? html`<ul class="cards">
            ${items.map(row)}
          </ul>`
        : html`<p class="empty">${empty}</p>`
    }
  </section>`;
}

export function NowPage() {
  const live = useLive<NowView>('view=now');
  const v = live.view;
  return html`<div class="page">
    <h1>Now</h1>
    <${Status} live=${live} />
    ${
      v &&
      html`<${Problems} problems=${v.problems} />
        <div class="grid">
          <${Section}
            title="Rollbacks"
            items=${v.rollbacks}
            empty="No rollback is running."
            row=${(r: RollbackCard) => html`<${RollbackRow} key=${r.workflowId} r=${r} />`}
          />
          <${Section}
            title="Freezes"
            items=${v.freezes}
            empty="No freeze is active or upcoming."
            row=${(f: GateEntry) => html`<${FreezeRow} key=${f.id} f=${f} />`}
          />
          <${Section}
            title="Unfreezes"
            items=${v.unfreezes}
            empty="No unfreeze is in progress."
            row=${(u: UnfreezeStatus) => html`<${UnfreezeRow} key=${u.workflowId} u=${u} />`}
          />
          <${Section}
            title="Guards"
            items=${v.guards}
            empty="No SLO guard is running."
            row=${(g: SloGuardStatus) => html`<${GuardRow} key=${g.workflowId} g=${g} />`}
          />
        </div>`
    }
  </div>`;
}
