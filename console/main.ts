// The web console's entry: a header (navigation, the time-zone switch) and the page the URL's fragment names
// (#/ Now, #/rollback/<id>, #/unfreeze/<freeze id>, #/calendar/<month|week>/<date>). Fragments keep every URL relative to the page, so a reverse proxy
// may serve the console under any path prefix.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { NowPage } from './now.js';
import { RollbackPage } from './rollback.js';
import { UnfreezePage } from './unfreeze.js';
import { CalendarPage } from './calendar.js';
import { GuardPage } from './guard.js';
import { AuditPage } from './audit.js';
import { SignInPage } from './signin.js';
import { SessionContext, api, storeToken, storedToken, whoami, type ConsoleConfig, type Session } from './auth.js';
import { ZONES, ZoneContext, resolveZone, saveZone, savedZone } from './time.js';
import './style.css';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function page(hash: string) {
  const [, kind, ...rest] = hash.replace(/^#/, '').split('/');
  let arg = '';
  try {
    arg = decodeURIComponent(rest.join('/'));
  } catch {
    // A malformed fragment (`%` alone) shows Now, not a blank page.
  }
  if (kind === 'rollback' && arg) return html`<${RollbackPage} key=${arg} id=${arg} />`;
  if (kind === 'unfreeze' && arg) return html`<${UnfreezePage} key=${arg} freezeId=${arg} />`;
  if (kind === 'calendar') return html`<${CalendarPage} rest=${rest} />`;
  if (kind === 'guard' && arg) return html`<${GuardPage} key=${arg} id=${arg} />`;
  if (kind === 'audit') return html`<${AuditPage} />`;
  if (kind === 'sign-in') return html`<${SignInPage} />`;
  return html`<${NowPage} />`;
}

/** serve's console settings, and the person a kept token names (checked with serve at start). */
function useSessionState(): Session {
  const [config, setConfig] = useState<ConsoleConfig>({ signIn: false, actions: false });
  const [actor, setActor] = useState<string>();
  useEffect(() => {
    void fetch(api('v1/console/config'))
      .then((r) => (r.ok ? (r.json() as Promise<ConsoleConfig>) : undefined))
      .then((c) => c && setConfig(c))
      .catch(() => undefined);
    const token = storedToken();
    // A kept token that serve no longer accepts (expired) is dropped: the person signs in again.
    if (token)
      whoami(token)
        .then(setActor)
        // Only a token serve refuses is dropped (expired: sign in again); serve briefly unavailable keeps it.
        .catch((err: Error & { status?: number }) => (err.status === 401 || err.status === 403) && storeToken(undefined));
  }, []);
  return {
    config,
    actor,
    async signIn(token) {
      try {
        const who = await whoami(token);
        storeToken(token);
        setActor(who);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
    signOut() {
      storeToken(undefined);
      setActor(undefined);
    },
  };
}

function App() {
  const hash = useHash();
  const session = useSessionState();
  const [zone, setZone] = useState(savedZone());
  useEffect(() => {
    // Each page names itself for screen readers and browser history.
    document.title = `Rearguard · ${(/^#\/(rollback|unfreeze|calendar|guard|audit|sign-in)/.exec(hash)?.[1] ?? 'now').replace('calendar', 'freeze calendar')}`;
  }, [hash]);
  return html`<${SessionContext.Provider} value=${session}
    ><${ZoneContext.Provider} value=${zone}>
      <header class="top">
        <a class="brand" href="#/">Rearguard</a>
        <nav aria-label="pages">
          <a href="#/" aria-current=${hash === '' || hash === '#/' ? 'page' : undefined}>Now</a>
          <a href="#/calendar" aria-current=${hash.startsWith('#/calendar') ? 'page' : undefined}>Calendar</a>
          ${session.config.signIn && html`<a href="#/audit" aria-current=${hash.startsWith('#/audit') ? 'page' : undefined}>Audit</a>`}
        </nav>
        ${
          session.config.signIn &&
          (session.actor
            ? html`<span class="who">
                ${session.actor}
                <button type="button" onClick=${() => session.signOut()}>Sign out</button>
              </span>`
            : html`<a href="#/sign-in">Sign in</a>`)
        }
        <label class="zone">
          Time zone
          <select
            value=${zone}
            onChange=${(e: Event) => {
              const z = (e.target as HTMLSelectElement).value;
              saveZone(z);
              setZone(z);
            }}
          >
            ${ZONES.map((z) => html`<option value=${z}>${z === 'local' ? `local (${resolveZone('local')})` : z}</option>`)}
          </select>
        </label>
      </header>
      <main>${page(hash)}</main>
    <//><//
  >`;
}

const root = document.getElementById('app')!;
// The page's "Loading…" placeholder goes: Preact renders into an empty element.
root.textContent = '';
render(html`<${App} />`, root);
