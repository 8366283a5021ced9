// Child processes for mechanisms (helm, git, terraform): argument arrays only (never a shell), a
// timeout, cancellation that kills the process when the activity is cancelled, heartbeats while it
// runs, and output captured and truncated. Secrets can be passed through `env` and are redacted from
// anything returned.
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import { excerpt } from './errors.js';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  input?: string;
  /** Values to blank out of output (tokens that reached a command line or environment). */
  redact?: string[];
}

export interface RunResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const MAX_OUTPUT = 1 << 20;

function inActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export async function run(file: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  const ctx = inActivity();
  const command = [file, ...args].join(' ');
  const beat = ctx ? setInterval(() => ctx.heartbeat({ running: file }), 5_000) : undefined;
  ctx?.heartbeat({ running: file });
  try {
    const r = await execa(file, args, {
      cwd: o.cwd,
      env: { ...o.env, LANG: 'C', LC_ALL: 'C' },
      extendEnv: true,
      input: o.input,
      timeout: o.timeoutMs ?? 10 * 60_000,
      cancelSignal: ctx?.cancellationSignal,
      forceKillAfterDelay: 5_000,
      reject: false,
      stripFinalNewline: true,
      maxBuffer: MAX_OUTPUT,
    });
    if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
    if (r.failed && r.exitCode === undefined && !r.timedOut) throw new Error(`${file}: ${r.originalMessage ?? r.shortMessage}`);
    const clean = (text: string) => (o.redact ?? []).filter(Boolean).reduce((t, secret) => t.split(secret).join('***'), text);
    return {
      command: clean(command),
      exitCode: r.exitCode ?? -1,
      stdout: clean(String(r.stdout ?? '')),
      stderr: clean(String(r.stderr ?? '')),
      timedOut: r.timedOut,
    };
  } finally {
    if (beat) clearInterval(beat);
  }
}

/** The last meaningful lines of a failed command, for error messages and results. */
export function failureText(r: RunResult, max = 400): string {
  const text = (r.stderr || r.stdout).trim();
  return r.timedOut ? `${r.command}: timed out` : `${r.command} exited ${r.exitCode}: ${excerpt(text.slice(-2000), max)}`;
}
