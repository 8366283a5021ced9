// An unfreeze's ladder: each environment a stage (frozen, soaking with its time left, healthy, failed, released),
// with the last gate results.
import type { UnfreezeStatus } from '../runbook/unfreeze-model.js';
import { shortDuration } from '../runbook/console-view.js';
import { html } from './html.js';
import { useLive } from './live.js';
import { Problems, Status } from './parts.js';
import { useClock } from './sla.js';
import { useTime } from './time.js';
import { Action } from './actions.js';

export function Ladder({ u }: { u: UnfreezeStatus }) {
  const now = useClock();
  return html`<ol class="ladder" aria-label=${`unfreeze ladder of ${u.freezeId}`}>
    ${u.environments.map((e) => {
      const left = e.state === 'soaking' && e.soakEndsAt ? Date.parse(e.soakEndsAt) - now : undefined;
      return html`<li class=${`stage stage-${e.state}`} data-environment=${e.environment} data-state=${e.state}>
        <span class="stage-env">${e.environment}</span>
        <span class="stage-state">${e.state}${left !== undefined ? ` · ${shortDuration(Math.max(0, left))} left` : ''}</span>
      </li>`;
    })}
  </ol>`;
}

export function UnfreezePage({ freezeId }: { freezeId: string }) {
  const live = useLive<{ at: string; status: UnfreezeStatus }>(`view=unfreeze&id=${encodeURIComponent(freezeId)}`);
  const time = useTime();
  const u = live.view?.status;
  return html`<div class="page">
    <p><a href="#/">← Now</a></p>
    <h1>Unfreeze of ${freezeId}</h1>
    <${Status} live=${live} />
    ${
      u &&
      html`<${Problems} problems=${u.error ? [u.error] : []} />
        <p>
          <span class=${`phase phase-unfreeze-${u.phase}`}>${u.phase}</span>
          ${` · by ${u.actor}: ${u.reason} · soak ${u.soak}, every ${u.interval}${u.approveEach ? ' · each stage approved' : ''}`}
        </p>
        <${Ladder} u=${u} />
        ${
          !u.endedAt &&
          html`<div class="actions" aria-label="decisions">
            ${
              u.phase === 'awaiting-approval' &&
              html`<${Action}
                label="Approve stage"
                what=${`Approve opening ${u.currentEnvironment ?? 'the next environment'}`}
                path=${`v1/unfreezes/${encodeURIComponent(u.freezeId)}/approve`}
              />`
            }
            <${Action}
              label="Advance"
              what=${`Open ${u.currentEnvironment ?? 'the next environment'} now, without waiting for its soak`}
              path=${`v1/unfreezes/${encodeURIComponent(u.freezeId)}/advance`}
            />
            <${Action}
              label="Abort"
              what=${`Abort the unfreeze of ${u.freezeId}: what is frozen stays frozen`}
              path=${`v1/unfreezes/${encodeURIComponent(u.freezeId)}/abort`}
              danger
            />
          </div>`
        }
        <h2>Last gate results</h2>
        ${
          u.lastGates.length
            ? html`<table>
                <thead>
                  <tr>
                    <th scope="col">gate</th>
                    <th scope="col">result</th>
                    <th scope="col">at</th>
                    <th scope="col">detail</th>
                  </tr>
                </thead>
                <tbody>
                  ${u.lastGates.map(
                    (g) =>
                      html`<tr>
                        <td>${g.gate} (${g.type})</td>
                        <td class=${g.ok ? 'ok' : 'bad'}>${g.ok ? 'passed' : 'failed'}</td>
                        <td>${time(g.at)}</td>
                        <td>${g.detail}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
            : html`<p class="empty">No gate evaluated yet.</p>`
        }
        <h2>Decisions</h2>
        ${
          u.decisions.length
            ? html`<ul>
                ${u.decisions.map((d) => html`<li>${time(d.time, true)}: ${d.action}${d.environment ? ` ${d.environment}` : ''} by ${d.actor}: ${d.reason}</li>`)}
              </ul>`
            : html`<p class="empty">None.</p>`
        }`
    }
  </div>`;
}
