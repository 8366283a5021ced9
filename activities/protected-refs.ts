// A ref a rollback checks out and applies (a gitops step's `toRef`, a terraform step's `toRef`) must be
// reviewed history: reachable from the repository's protected branch, or the commit of a protected tag.
// Otherwise whoever can edit a runbook (or trigger one that names a branch) could apply an unreviewed branch
// to production with the worker's credentials. The answer comes from git itself, through argument arrays,
// after fetching the protected branch and the tags afresh.
import { ApplicationFailure } from '@temporalio/activity';
import { configurationError } from './errors.js';
import { failureText } from './process.js';
import type { Git } from './git.js';

/** Where the protected branch is fetched to, so a local branch of the same name cannot stand in for it. */
const PROTECTED_REMOTE_REF = (branch: string) => `refs/remotes/origin/${branch}`;

/** `*` any run of characters but '/', `?` one such character; everything else literal (as git's tag patterns). */
export function tagMatches(tag: string, pattern: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${re}$`).test(tag);
}

/** How `commit` was found protected, or a ConfigurationError naming the ref, the repository and what would be accepted. */
export async function requireProtected(git: Git, dir: string, ref: string, commit: string): Promise<string> {
  if (ref.startsWith('-')) throw configurationError(`repository ${git.name}: ref ${ref} starts with '-'; expected a branch, tag or commit`);
  const branch = git.repo.protectedBranch ?? git.repo.branch;
  const patterns = git.repo.protectedTags ?? [];
  const fetched = await git.run(dir, [
    'fetch',
    '--quiet',
    '--prune',
    '--no-tags',
    'origin',
    `+refs/heads/${branch}:${PROTECTED_REMOTE_REF(branch)}`,
    '+refs/tags/*:refs/tags/*',
  ]);
  if (fetched.exitCode !== 0) {
    if (/couldn't find remote ref/i.test(fetched.stderr))
      throw configurationError(
        `repository ${git.name}: the protected branch ${branch} does not exist; set repos.${git.name}.protectedBranch in REARGUARD_TARGETS to the branch reviewed changes land on`,
      );
    throw ApplicationFailure.retryable(`repository ${git.name}: fetching the protected branch ${branch}: ${failureText(fetched)}`, 'GitFailed');
  }
  const ancestor = await git.run(dir, ['merge-base', '--is-ancestor', commit, PROTECTED_REMOTE_REF(branch)]);
  if (ancestor.exitCode === 0) return `on ${branch}`;
  if (ancestor.exitCode !== 1) throw ApplicationFailure.retryable(`repository ${git.name}: git merge-base: ${failureText(ancestor)}`, 'GitFailed');
  // Tags pointing at exactly this commit (an annotated tag counts by its commit): the ref may be the tag itself,
  // or the commit id a protected tag names, either way the tree is the tagged one.
  const tags = (await git.ok(dir, ['for-each-ref', `--points-at=${commit}`, '--format=%(refname:strip=2)', 'refs/tags/'])).split('\n').filter(Boolean);
  const protectedTag = tags.find((t) => patterns.some((p) => tagMatches(t, p)));
  if (protectedTag) return `tag ${protectedTag}`;
  const what = ref === commit ? `commit ${commit.slice(0, 12)}` : `${ref} (commit ${commit.slice(0, 12)})`;
  const tagged = tags.length ? `it is tagged ${tags.join(', ')}` : '';
  const protectedTags = patterns.length
    ? `no tag matching protectedTags ${patterns.join(', ')} points at it${tagged ? ` (${tagged})` : ''}`
    : `no tags are protected (${tagged ? `${tagged}; ` : ''}repos.${git.name}.protectedTags in REARGUARD_TARGETS is empty)`;
  const fix = patterns.length ? `merge it into ${branch} or tag it with a tag matching ${patterns.join(', ')}` : `merge it into ${branch}`;
  throw configurationError(
    `repository ${git.name}: ${what} is not reviewed: it is not on the protected branch ${branch}, and ${protectedTags}; ${fix}, then name that ref in the runbook`,
  );
}
