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
  const arg = decodeURIComponent(rest.join('/'));
  if (kind === 'rollback' && arg) return html`<${RollbackPage} key=${arg} id=${arg} />`;
  if (kind === 'unfreeze' && arg) return html`<${UnfreezePage} key=${arg} freezeId=${arg} />`;
  if (kind === 'calendar') return html`<${CalendarPage} rest=${rest} />`;
  return html`<${NowPage} />`;
}

function App() {
  const hash = useHash();
  const [zone, setZone] = useState(savedZone());
  useEffect(() => {
    // Each page names itself for screen readers and browser history.
    document.title = `Rearguard · ${(/^#\/(rollback|unfreeze|calendar)/.exec(hash)?.[1] ?? 'now').replace('calendar', 'freeze calendar')}`;
  }, [hash]);
  return html`<${ZoneContext.Provider} value=${zone}>
    <header class="top">
      <a class="brand" href="#/">Rearguard</a>
      <nav aria-label="pages">
        <a href="#/" aria-current=${hash === '' || hash === '#/' ? 'page' : undefined}>Now</a>
        <a href="#/calendar" aria-current=${hash.startsWith('#/calendar') ? 'page' : undefined}>Calendar</a>
      </nav>
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
  <//>`;
}

const root = document.getElementById('app')!;
// The page's "Loading…" placeholder goes: Preact renders into an empty element.
root.textContent = '';
render(html`<${App} />`, root);
