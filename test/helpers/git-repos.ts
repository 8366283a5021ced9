// Real git repositories in temp dirs: a bare "remote" and a working clone to make history with.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface TestRepo {
  remote: string;
  url: string;
  work: string;
  git(...args: string[]): Promise<string>;
  /** Writes files, commits them (and pushes); returns the commit id. */
  commit(files: Record<string, string | null>, message: string, tag?: string): Promise<string>;
}

export async function createRepo(name = 'repo', branch = 'main'): Promise<TestRepo> {
  const root = await mkdtemp(join(tmpdir(), `rearguard-${name}-`));
  const remote = join(root, `${name}.git`);
  const work = join(root, 'work');
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Dev',
    GIT_AUTHOR_EMAIL: 'dev@example.com',
    GIT_COMMITTER_NAME: 'Dev',
    GIT_COMMITTER_EMAIL: 'dev@example.com',
  };
  const git = async (...args: string[]) => (await exec('git', args, { cwd: work, env })).stdout.trim();
  await exec('git', ['init', '--quiet', '--bare', `--initial-branch=${branch}`, remote]);
  await exec('git', ['init', '--quiet', `--initial-branch=${branch}`, work]);
  await git('remote', 'add', 'origin', remote);
  return {
    remote,
    url: `file://${remote}`,
    work,
    git,
    async commit(files, message, tag) {
      for (const [path, content] of Object.entries(files)) {
        if (content === null) await git('rm', '--quiet', path);
        else {
          await mkdir(dirname(join(work, path)), { recursive: true });
          await writeFile(join(work, path), content);
          await git('add', path);
        }
      }
      await git('commit', '--quiet', '-m', message);
      if (tag) await git('tag', tag);
      await git('push', '--quiet', 'origin', `HEAD:${branch}`, '--tags');
      return git('rev-parse', 'HEAD');
    },
  };
}
