// REARGUARD_SERVE_URL: where `rearguard serve` answers, for the commands that can ask it instead of Temporal
// (`audit`, `freeze check`). Checked once, with an error that names the variable.
import { badInput, echo } from './errors.js';

/** REARGUARD_SERVE_URL, checked: rearguard serve's base URL (with a trailing slash), or undefined when unset. */
export function serveUrlOf(env: NodeJS.ProcessEnv): URL | undefined {
  const text = env.REARGUARD_SERVE_URL?.trim();
  if (!text) return undefined;
  try {
    const u = new URL(text.endsWith('/') ? text : `${text}/`);
    if (u.protocol === 'https:' || u.protocol === 'http:') return u;
  } catch {
    // reported below
  }
  throw badInput(`REARGUARD_SERVE_URL: expected the URL of rearguard serve, such as https://rearguard.example.com, got ${echo(text)}`);
}
