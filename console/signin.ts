// Signing in: a person pastes an OIDC token from their identity provider (the one serve trusts: the same token
// `curl -H "Authorization: Bearer ..."` would use). serve checks it (GET v1/console/whoami) before the console keeps it.
import { useState } from 'preact/hooks';
import { useSession } from './auth.js';
import { html } from './html.js';

export function SignInPage() {
  const session = useSession();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  if (!session.config.signIn)
    return html`<div class="page">
      <h1>Sign in</h1>
      <p>This rearguard serve does not authenticate people (no OIDC issuer configured): the console is read-only.</p>
    </div>`;
  if (session.actor)
    return html`<div class="page">
      <h1>Signed in</h1>
      <p>You are signed in as <strong>${session.actor}</strong>.</p>
      <p><a href="#/">Back to Now</a></p>
    </div>`;
  const submit = async (e: Event) => {
    e.preventDefault();
    const problem = await session.signIn(token.trim());
    if (problem) setError(problem);
    else location.hash = '#/';
  };
  return html`<div class="page">
    <h1>Sign in</h1>
    <form class="signin" onSubmit=${submit}>
      <label for="token">OIDC token from your identity provider</label>
      <textarea
        id="token"
        rows="5"
        autocomplete="off"
        spellcheck="false"
        value=${token}
        onInput=${(e: Event) => setToken((e.target as HTMLTextAreaElement).value)}
      ></textarea>
      <p class="muted">Kept in this tab only, until you sign out or close it; sent to this rearguard serve only.</p>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button type="submit" class="primary" disabled=${!token.trim()}>Sign in</button>
    </form>
  </div>`;
}
