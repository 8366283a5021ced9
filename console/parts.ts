// Small pieces every page uses: phase names as people say them, the connection state, and the list of what could
// not be read.
import { html } from './html.js';
import type { Live } from './live.js';

/** A rollback's phase as the pages say it. */
export const PHASES: Record<string, string> = {
  preflight: 'preflight',
  'awaiting-approval': 'awaiting approval',
  'running-steps': 'running steps',
  verifying: 'verifying',
  done: 'done',
};

export function Status({ live }: { live: Live<unknown> }) {
  if (live.connected && !live.problem) return html`<p class="live" role="status"><span class="dot" aria-hidden="true"></span> live</p>`;
  if (!live.view && !live.problem) return html`<p class="live" role="status">connecting…</p>`;
  return html`<p class="live problem" role="status">${live.problem ?? 'reconnecting…'}</p>`;
}

export function Problems({ problems }: { problems: string[] }) {
  if (!problems.length) return null;
  return html`<div class="problems" role="alert">
    <strong>Not everything could be read:</strong>
    <ul>
      ${problems.map((p) => html`<li>${p}</li>`)}
    </ul>
  </div>`;
}
