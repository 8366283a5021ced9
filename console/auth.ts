// Who is signed in to this console, and how its calls carry that. serve authenticates people by OIDC bearer tokens
// (the same tokens its API takes); the console keeps the token a person signs in with in this tab's sessionStorage
// (gone when the tab closes) and sends it as `Authorization: Bearer` to the endpoints for people, never in a URL
// and never in a cookie, so no other site can make a browser use it (no CSRF).
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

const KEY = 'rearguard.token';

export interface ConsoleConfig {
  /** serve takes OIDC tokens: people may sign in (the audit page). */
  signIn: boolean;
  /** serve can also sign their decisions: actions appear for signed-in people. */
  actions: boolean;
}

export interface Session {
  config: ConsoleConfig;
  /** The signed-in person as serve names them (the token's actor claim), or undefined. */
  actor?: string;
  signIn(token: string): Promise<string | undefined>;
  signOut(): void;
}

export const SessionContext = createContext<Session>({ config: { signIn: false, actions: false }, signIn: async () => 'not ready', signOut: () => {} });
export const useSession = (): Session => useContext(SessionContext);

export const storedToken = (): string | undefined => {
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
};
export const storeToken = (token: string | undefined): void => {
  try {
    if (token) sessionStorage.setItem(KEY, token);
    else sessionStorage.removeItem(KEY);
  } catch {
    // storage refused (private mode): the session lasts as long as the page
  }
};

export const api = (path: string): URL => new URL(path, document.baseURI);

/** serve's error text from a failed answer: `error`, and `problems` when it lists them. */
export async function errorText(r: Response): Promise<string> {
  try {
    const body = (await r.json()) as { error?: string; problems?: string[] };
    return [body.error ?? `HTTP ${r.status}`, ...(body.problems ?? [])].join(': ');
  } catch {
    return `HTTP ${r.status}`;
  }
}

/** A call to an endpoint for people, with the session's token. */
export function authFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const token = storedToken();
  return fetch(api(path), { ...init, headers: { ...(init.headers as Record<string, string>), ...(token ? { authorization: `Bearer ${token}` } : {}) } });
}

/** Asks serve who `token` names: the actor, or throws serve's reason. */
export async function whoami(token: string): Promise<string> {
  const r = await fetch(api('v1/console/whoami'), { headers: { authorization: `Bearer ${token}` } });
  if (!r.ok) throw Object.assign(new Error(await errorText(r)), { status: r.status });
  return ((await r.json()) as { actor: string }).actor;
}
