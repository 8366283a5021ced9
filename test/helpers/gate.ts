// Fixtures for the freeze gate's callers: `rearguard serve` as a process whose log the test can read, and a
// real git server (a bare repository with Rearguard's pre-receive hook) with a clone that pushes to it.
import { chmod, copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from '../../activities/process.js';
import { freePort, rearguard } from './processes.js';
import { waitFor } from './wait.js';
import { ROOT } from './tools.js';

export interface ServeProcess {
  url: string;
  /** Everything the server wrote to stderr (its log) so far. */
  log(): string;
  /** Everything it wrote to stdout (its start-up line). */
  out(): string;
  stop(): Promise<void>;
}

/** `rearguard serve` on a free port, ready when /healthz answers. */
export async function startServe(env: Record<string, string>, args: string[] = []): Promise<ServeProcess> {
  const port = await freePort();
  const p = rearguard(['serve', '--port', String(port), ...args], env);
  let log = '';
  let out = '';
  p.child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  p.child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    () =>
      fetch(`${url}/healthz`)
        .then((r) => r.ok || undefined)
        .catch(() => undefined),
    'rearguard serve',
  );
  return {
    url,
    log: () => log,
    out: () => out,
    stop: async () => {
      p.child.kill('SIGTERM');
      await p;
    },
  };
}

export interface HookedRepo {
  remote: string;
  /** Commits a change and pushes it to `branch`; the hook's environment is `hookEnv` (plus this process's). */
  push(branch: string, opts?: { pushOptions?: string[]; hookEnv?: Record<string, string> }): Promise<RunResult>;
}

const author = { GIT_AUTHOR_NAME: 'Dev', GIT_AUTHOR_EMAIL: 'd@x', GIT_COMMITTER_NAME: 'Dev', GIT_COMMITTER_EMAIL: 'd@x' };

/** A bare repository `<service>.git` (so the hook's service is `service`) with scripts/hooks/pre-receive installed, and a clone. */
export async function repoWithGateHook(service: string): Promise<HookedRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'rearguard-hook-'));
  const remote = join(dir, `${service}.git`);
  const work = join(dir, 'work');
  const git = async (cwd: string, args: string[], env: Record<string, string> = {}) => {
    const r = await run('git', args, { cwd, env: { ...author, ...env } });
    return r;
  };
  const must = async (cwd: string, ...args: string[]) => {
    const r = await git(cwd, args);
    if (r.exitCode !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  };
  await must(dir, 'init', '--quiet', '--bare', '--initial-branch=main', remote);
  await must(remote, 'config', 'receive.advertisePushOptions', 'true');
  await copyFile(join(ROOT, 'scripts/hooks/pre-receive'), join(remote, 'hooks/pre-receive'));
  await chmod(join(remote, 'hooks/pre-receive'), 0o755);
  await must(dir, 'clone', '--quiet', remote, work);
  let n = 0;
  return {
    remote,
    async push(branch, { pushOptions = [], hookEnv = {} } = {}) {
      await writeFile(join(work, 'file.txt'), `change ${++n}\n`);
      await must(work, 'add', 'file.txt');
      await must(work, 'commit', '--quiet', '-m', `change ${n}`);
      return git(work, ['push', ...pushOptions.flatMap((o) => ['-o', o]), 'origin', `HEAD:refs/heads/${branch}`], hookEnv);
    },
  };
}
