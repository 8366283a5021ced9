// Decisions from the console (approve, reject, cancel, lift, approve an exception, advance, abort): a button that
// opens a dialog asking for the reason (kept in the audit trail, as the CLI's --reason) and a confirmation, then
// posts to serve's decision endpoint for people, which signs it as the person's delegate. Shown only to signed-in
// people on a serve that can sign decisions; the workflow still judges whether this person may decide.
import { useRef, useState } from 'preact/hooks';
import { authFetch, errorText, useSession } from './auth.js';
import { html } from './html.js';

export interface ActionProps {
  /** The button's text, e.g. "Approve". */
  label: string;
  /** What it does, in the dialog's title, e.g. "Approve the rollback of checkout in dev". */
  what: string;
  /** serve's endpoint, relative: v1/rollbacks/<id>/approve. */
  path: string;
  danger?: boolean;
}

export function Action(props: ActionProps) {
  // Keyed by its endpoint: an action that becomes another in the same place (pause -> resume while a dialog is
  // open) is a new dialog, never the old one confirming the new decision.
  return html`<${ActionDialog} key=${props.path} ...${props} />`;
}

function ActionDialog({ label, what, path, danger = false }: ActionProps) {
  const session = useSession();
  const dialog = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [state, setState] = useState<{ busy?: boolean; error?: string; done?: string }>({});
  if (!session.config.actions || !session.actor) return null;
  const id = `reason-${path.replace(/\W+/g, '-')}`;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!reason.trim()) return setState({ error: 'reason: say why (it is kept in the audit trail)' });
    setState({ busy: true });
    const r = await authFetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: reason.trim() }) }).catch(
      (err: Error) => err,
    );
    if (r instanceof Error) return setState({ error: `cannot reach rearguard serve: ${r.message}` });
    if (!r.ok) return setState({ error: await errorText(r) });
    setState({ done: `${label}: done as ${session.actor}` });
    setReason('');
    dialog.current?.close();
  };
  return html`<span class="action">
    <button
      type="button"
      class=${danger ? 'danger' : ''}
      onClick=${() => {
        setState({});
        dialog.current?.showModal();
      }}
    >
      ${label}
    </button>
    ${state.done && html`<span class="action-done" role="status">${state.done}</span>`}
    <dialog ref=${dialog} aria-labelledby=${`${id}-title`}>
      <form method="dialog" onSubmit=${submit}>
        <h2 id=${`${id}-title`}>${what}</h2>
        <p class="muted">As ${session.actor}. serve signs this decision for you; the audit trail keeps your name and reason.</p>
        <label for=${id}>Reason</label>
        <textarea id=${id} required rows="3" value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLTextAreaElement).value)}></textarea>
        ${state.error && html`<p class="error" role="alert">${state.error}</p>`}
        <div class="dialog-buttons">
          <button type="submit" class=${danger ? 'danger' : 'primary'} disabled=${state.busy}>Confirm: ${label.toLowerCase()}</button>
          <button type="button" onClick=${() => dialog.current?.close()}>Cancel</button>
        </div>
      </form>
    </dialog>
  </span>`;
}
