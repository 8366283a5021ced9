// The audit trail for signed-in people (serve's GET v1/audit): filters by service, environment, actor and time,
// and the state of the file's hash chain (intact, or where it breaks).
import { useEffect, useState } from 'preact/hooks';
import { authFetch, errorText, useSession } from './auth.js';
import { html } from './html.js';
import { useTime } from './time.js';
import type { AuditEvent } from '../runbook/types.js';

interface AuditAnswer {
  events: AuditEvent[];
  truncated: number;
  unreadable: { line: number; error: string }[];
  chain?: { ok: boolean; events: number; linked: number; unchained: number; break: { kind: string; line: number; message: string } | null; signed: number };
}

const FIELDS = [
  ['service', 'Service'],
  ['env', 'Environment'],
  ['actor', 'Actor'],
  ['since', 'Since (e.g. 24h, 7d)'],
] as const;

export function AuditPage() {
  const session = useSession();
  const time = useTime();
  const [filters, setFilters] = useState<Record<string, string>>({ since: '7d' });
  const [applied, setApplied] = useState<Record<string, string>>({ since: '7d' });
  const [answer, setAnswer] = useState<{ data?: AuditAnswer; error?: string }>({});
  useEffect(() => {
    if (!session.actor) return;
    const q = new URLSearchParams({ verify: 'true', limit: '500' });
    for (const [k, v] of Object.entries(applied)) if (v.trim()) q.set(k, v.trim());
    let stop = false;
    void authFetch(`v1/audit?${q}`)
      .then(async (r) => (r.ok ? { data: (await r.json()) as AuditAnswer } : { error: await errorText(r) }))
      .catch((err: Error) => ({ error: `cannot reach rearguard serve: ${err.message}` }))
      .then((a) => !stop && setAnswer(a));
    return () => {
      stop = true;
    };
  }, [session.actor, JSON.stringify(applied)]);
  if (!session.actor)
    return html`<div class="page">
      <h1>Audit</h1>
      <p>
        The audit trail is for signed-in people.
        ${session.config.signIn ? html`<a href="#/sign-in">Sign in</a>` : 'This rearguard serve does not authenticate people.'}
      </p>
    </div>`;
  const chain = answer.data?.chain;
  return html`<div class="page">
    <h1>Audit</h1>
    <form
      class="filters"
      onSubmit=${(e: Event) => {
        e.preventDefault();
        setApplied({ ...filters });
      }}
    >
      ${FIELDS.map(
        ([k, label]) =>
          html`<label>
            ${label}
            <input name=${k} value=${filters[k] ?? ''} onInput=${(e: Event) => setFilters({ ...filters, [k]: (e.target as HTMLInputElement).value })} />
          </label>`,
      )}
      <button type="submit" class="primary">Filter</button>
    </form>
    ${answer.error && html`<p class="error" role="alert">${answer.error}</p>`}
    ${
      chain &&
      html`<p class=${chain.ok ? 'chain ok' : 'chain bad'} role="status" data-chain=${chain.ok ? 'intact' : 'broken'}>
        ${
          chain.ok
            ? `Hash chain intact: ${chain.linked} of ${chain.events} events linked${chain.unchained ? `, ${chain.unchained} written before the chain` : ''}.`
            : `Hash chain broken at line ${chain.break?.line}: ${chain.break?.kind} (${chain.break?.message}).`
        }
        ${chain.signed ? ` ${chain.signed} signed decisions (verify their signatures with rearguard audit verify).` : ''}
      </p>`
    }
    ${
      answer.data &&
      html`<table class="audit">
          <thead>
            <tr>
              <th scope="col">time</th>
              <th scope="col">service</th>
              <th scope="col">environment</th>
              <th scope="col">action</th>
              <th scope="col">actor</th>
              <th scope="col">reason</th>
            </tr>
          </thead>
          <tbody>
            ${answer.data.events
              .slice()
              .reverse()
              .map(
                (a) =>
                  html`<tr>
                    <td>${time(a.time, true)}</td>
                    <td>${a.target.service}</td>
                    <td>${a.target.environment}</td>
                    <td>${a.action}</td>
                    <td>${a.actor}</td>
                    <td>${a.reason}</td>
                  </tr>`,
              )}
          </tbody>
        </table>
        ${answer.data.events.length === 0 && html`<p class="empty">No event matches.</p>`}
        ${answer.data.truncated > 0 && html`<p class="muted">${answer.data.truncated} older matching events not shown.</p>`}
        ${answer.data.unreadable.length > 0 && html`<p class="error">${answer.data.unreadable.length} line(s) of the audit file could not be read.</p>`}`
    }
  </div>`;
}
