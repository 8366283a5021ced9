// Runbooks name environment variables; the values live only in the worker's environment and in
// activity memory. They never enter workflow history, results, errors or logs.
import { configurationError } from './errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

export function fromEnv(env: Env, name: string, field: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw configurationError(`${field}: environment variable ${name} is not set on the worker`);
  }
  return value;
}

/** URL from `url` or from the variable named by `urlEnv`, with a label that is safe to show. */
export function resolveUrl(env: Env, t: { url?: string; urlEnv?: string }, field: string): { url: string; label: string } {
  if (t.url !== undefined) return { url: t.url, label: t.url.replace(/\?.*$/, '') };
  if (t.urlEnv === undefined) throw configurationError(`${field}: expected url or urlEnv`);
  const url = fromEnv(env, t.urlEnv, field);
  if (!URL.canParse(url)) throw configurationError(`${field}: environment variable ${t.urlEnv} does not hold a valid URL`);
  return { url, label: `$${t.urlEnv}` };
}
