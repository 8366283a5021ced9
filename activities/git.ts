// git through argument arrays, with credentials only in the environment: an ssh key through
// GIT_SSH_COMMAND, an HTTPS token as an extra header through GIT_CONFIG_* variables (never argv, so
// never in `ps`, logs or history).
import { ApplicationFailure } from '@temporalio/activity';
import { configurationError } from './errors.js';
import { failureText, run, type RunResult } from './process.js';
import type { Env } from './secrets.js';
import type { RepoConfig } from './targets.js';

export class Git {
  private readonly env: Record<string, string>;
  private readonly secrets: string[] = [];

  constructor(
    readonly bin: string,
    readonly name: string,
    readonly repo: RepoConfig,
    workerEnv: Env,
  ) {
    this.env = {
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: repo.author.name,
      GIT_AUTHOR_EMAIL: repo.author.email,
      GIT_COMMITTER_NAME: repo.author.name,
      GIT_COMMITTER_EMAIL: repo.author.email,
    };
    if (repo.sshKeyPath) this.env.GIT_SSH_COMMAND = `ssh -i ${repo.sshKeyPath} -o IdentitiesOnly=yes -o BatchMode=yes`;
    if (repo.tokenEnv) {
      const token = workerEnv[repo.tokenEnv];
      if (!token) throw configurationError(`repository ${name}: environment variable ${repo.tokenEnv} is not set on the worker`);
      const header = `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
      Object.assign(this.env, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: header });
      this.secrets.push(token, header);
    }
  }

  async run(cwd: string | undefined, args: string[], timeoutMs = 5 * 60_000): Promise<RunResult> {
    return run(this.bin, args, { cwd, env: this.env, timeoutMs, redact: this.secrets });
  }

  /** Runs git and returns stdout; a failure is retryable unless `final` says otherwise. */
  async ok(cwd: string | undefined, args: string[], final = false): Promise<string> {
    const r = await this.run(cwd, args);
    if (r.exitCode !== 0) {
      const msg = `repository ${this.name}: ${failureText(r)}`;
      throw final ? ApplicationFailure.nonRetryable(msg, 'GitFailed') : ApplicationFailure.retryable(msg, 'GitFailed');
    }
    return r.stdout.trim();
  }

  async clone(dir: string, opts: { branch?: string; noCheckout?: boolean } = {}): Promise<void> {
    await this.ok(undefined, [
      'clone',
      '--quiet',
      ...(opts.branch ? ['--branch', opts.branch] : []),
      ...(opts.noCheckout ? ['--no-checkout'] : []),
      '--',
      this.repo.url,
      dir,
    ]);
  }

  /** Resolves a ref or revision to a full commit id, or fails clearly. */
  async resolve(dir: string, ref: string): Promise<string> {
    // git would read a leading '-' as an option (`--output=...`), not a revision.
    if (ref.startsWith('-')) throw configurationError(`repository ${this.name}: ref ${ref} starts with '-'; expected a branch, tag or commit`);
    const r = await this.run(dir, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    if (r.exitCode !== 0) throw configurationError(`repository ${this.name}: ${ref} does not name a commit`);
    return r.stdout.trim();
  }
}
