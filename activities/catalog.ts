// The runbook catalog: the reviewed runbooks, Policy and allowed_signers a worker acts on (README, "Security
// model"). A directory, or a branch or tag of a git repository of the targets file, so all three go through
// code review like any other change to production. Layout, the same in both:
//
//   policy.yaml        the Policy (runbook/policy.ts): permissions, egress, local runbook environments
//   allowed_signers    OpenSSH allowed_signers: who may sign decisions (principals are actor names)
//   runbooks/*.yaml    runbooks, known by metadata.name (subdirectories allowed)
//
// The worker reads it at start (a broken catalog stops it, naming every problem), then again every
// `refreshMs` and when asked (`rearguard catalog refresh`). A refresh that finds a broken catalog keeps the
// last good one and reports the problems: a bad commit must not take the worker's rules away mid-incident.
// Each runbook is known by its content digest (sha256 of the file's bytes): a rollback records the digest it
// ran, and refuses one whose runbook changed between its trigger and its load.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { execa } from 'execa';
import { parsePolicy, type Policy } from '../runbook/policy.js';
import { parseRunbook } from '../runbook/load.js';
import type { CatalogEntry, CatalogIndex, CatalogRef } from '../runbook/catalog.js';
import { parseAllowedSigners, SshSigError, type AllowedSigner } from '../runbook/sshsig.js';
import { Git } from './git.js';
import type { Repos } from './targets.js';
import type { Env } from './secrets.js';

export const CATALOG_ENV = 'REARGUARD_CATALOG';
const RUNBOOKS_DIR = 'runbooks';
const POLICY_FILE = 'policy.yaml';
const SIGNERS_FILE = 'allowed_signers';
/** Larger files are refused: a runbook is a page of YAML. */
const MAX_FILE_BYTES = 256 * 1024;

/** Where the catalog comes from: `REARGUARD_CATALOG=DIR` or `REARGUARD_CATALOG=git:REPO[@REF][:PATH]`. */
export type CatalogSource = { kind: 'dir'; dir: string } | { kind: 'git'; repo: string; ref?: string; path: string };

export interface CatalogSnapshot {
  /** How people name the source: the directory, or `git:REPO@REF`. */
  source: string;
  /** The git commit read, or a digest of the directory's files. */
  revision: string;
  readAt: string;
  policy: Policy;
  allowedSigners: AllowedSigner[];
  runbooks: CatalogEntry[];
}

/** A catalog the worker cannot use; `problems` one per line, each naming the file. */
export class CatalogError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'CatalogError';
  }
}

export const digestOf = (bytes: Uint8Array | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Parses REARGUARD_CATALOG; throws a CatalogError saying what was expected. */
export function parseCatalogSource(raw: string): CatalogSource {
  const text = raw.trim();
  if (!text.startsWith('git:')) return { kind: 'dir', dir: text };
  const m = /^git:([A-Za-z0-9][-A-Za-z0-9_.]*)(?:@([^:\s]+))?(?::(.*))?$/.exec(text);
  if (!m)
    throw new CatalogError([
      `${CATALOG_ENV}: expected a directory, or git:REPO[@BRANCH_OR_TAG][:PATH] naming a repository of the targets file, got ${JSON.stringify(text.slice(0, 80))}`,
    ]);
  const [, repo, ref, path] = m;
  if (ref?.startsWith('-') || ref?.includes('..')) throw new CatalogError([`${CATALOG_ENV}: ${JSON.stringify(ref)} is not a branch or tag name`]);
  const sub = (path ?? '').replace(/^\/+|\/+$/g, '');
  if (sub.split('/').some((p) => p === '..')) throw new CatalogError([`${CATALOG_ENV}: the path inside the repository may not contain ..`]);
  return { kind: 'git', repo: repo!, ...(ref ? { ref } : {}), path: sub };
}

/** The files of a catalog: path (relative, with /) to bytes. */
type Files = Map<string, Buffer>;

async function readDirFiles(root: string): Promise<Files> {
  const files: Files = new Map();
  const problems: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      const rel = relative(root, full).split(sep).join('/');
      if (e.name.startsWith('.')) continue; // .git, and Kubernetes ConfigMap volumes' ..data and timestamped dirs
      let s;
      try {
        s = await stat(full); // follows symlinks, as a mounted ConfigMap needs
      } catch {
        continue;
      }
      if (s.isDirectory()) {
        if (depth < 4 && (rel === RUNBOOKS_DIR || rel.startsWith(`${RUNBOOKS_DIR}/`))) await walk(full, depth + 1);
      } else if (s.isFile() && (rel === POLICY_FILE || rel === SIGNERS_FILE || (rel.startsWith(`${RUNBOOKS_DIR}/`) && /\.ya?ml$/.test(rel)))) {
        if (s.size > MAX_FILE_BYTES) problems.push(`${rel}: ${s.size} bytes, more than ${MAX_FILE_BYTES}`);
        else files.set(rel, await readFile(full));
      }
    }
  };
  try {
    await walk(root, 0);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CatalogError([`${CATALOG_ENV}: ${root} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (err as Error).message})`}`]);
  }
  if (problems.length) throw new CatalogError(problems);
  return files;
}

/** Parses a catalog's files into a snapshot, or throws a CatalogError listing every problem. */
export function parseCatalog(files: Files, source: string, revision: string, now = new Date()): CatalogSnapshot {
  const problems: string[] = [];
  let policy: Policy | undefined;
  const policyBytes = files.get(POLICY_FILE);
  if (!policyBytes) problems.push(`${POLICY_FILE}: missing (the catalog's Policy: who may act where, which secrets may go where)`);
  else {
    const p = parsePolicy(policyBytes.toString('utf8'));
    if (p.ok) policy = p.value;
    else problems.push(...p.problems.map((x) => `${POLICY_FILE}: ${x}`));
  }
  let allowedSigners: AllowedSigner[] = [];
  const signers = files.get(SIGNERS_FILE);
  if (!signers) problems.push(`${SIGNERS_FILE}: missing (OpenSSH allowed_signers: the keys that may sign decisions, principals are actor names)`);
  else {
    try {
      allowedSigners = parseAllowedSigners(signers.toString('utf8'), SIGNERS_FILE);
      if (!allowedSigners.some((s) => s.keyType === 'ssh-ed25519'))
        problems.push(`${SIGNERS_FILE}: lists no ssh-ed25519 key, so every signed decision would be refused`);
    } catch (err) {
      if (!(err instanceof SshSigError)) throw err;
      problems.push(...err.problems.map((x) => (x.startsWith(SIGNERS_FILE) ? x : `${SIGNERS_FILE}: ${x}`)));
    }
  }
  const runbooks: CatalogEntry[] = [];
  const byName = new Map<string, string>();
  for (const [file, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!file.startsWith(`${RUNBOOKS_DIR}/`)) continue;
    const loaded = parseRunbook(bytes.toString('utf8'));
    if (!loaded.ok) {
      problems.push(...loaded.problems.map((x) => `${file}: ${x}`));
      continue;
    }
    const name = loaded.value.metadata.name;
    const other = byName.get(name);
    if (other) {
      problems.push(`${file}: runbook ${name} is also defined by ${other} (names must be unique in the catalog)`);
      continue;
    }
    byName.set(name, file);
    runbooks.push({ name, file, digest: digestOf(bytes), runbook: loaded.value });
  }
  if (problems.length || !policy) throw new CatalogError(problems);
  return { source, revision, readAt: now.toISOString(), policy, allowedSigners, runbooks };
}

/** A digest of a directory's catalog files: its "revision" (names and contents). */
function filesDigest(files: Files): string {
  const h = createHash('sha256');
  for (const [name, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) h.update(`${name}\0${bytes.length}\0`).update(bytes);
  return `sha256:${h.digest('hex')}`;
}

export interface CatalogOptions {
  source: CatalogSource;
  repos: Repos;
  env: Env;
  gitBin: string;
  /** Where a git catalog's bare repository is kept. */
  workDir: string;
  /** How often it is re-read (default 1 minute; 0: only on demand). */
  refreshMs?: number;
  /** Told about every refresh that changed the catalog, and about every one that failed. */
  log?: (line: string) => void;
}

/** The catalog a worker reads: the current good snapshot, refreshed periodically and on demand. */
export class Catalog {
  private snapshot: CatalogSnapshot | undefined;
  private lastProblems: string[] = [];
  private refreshing: Promise<CatalogSnapshot> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: ((s: CatalogSnapshot) => void)[] = [];

  constructor(private readonly o: CatalogOptions) {}

  /** How people name the source, for logs and messages. */
  get name(): string {
    const s = this.o.source;
    return s.kind === 'dir' ? s.dir : `git:${s.repo}@${s.ref ?? this.o.repos.get(s.repo).branch ?? 'HEAD'}${s.path ? `:${s.path}` : ''}`;
  }

  /** Reads it the first time; throws a CatalogError (every problem) when it cannot be used. Starts the timer. */
  async start(): Promise<CatalogSnapshot> {
    const s = await this.refresh();
    const every = this.o.refreshMs ?? 60_000;
    if (every > 0 && !this.timer) {
      this.timer = setInterval(() => void this.refresh().catch(() => undefined), every);
      this.timer.unref();
    }
    return s;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Called with each new snapshot (e.g. to apply a changed egress policy). */
  onChange(f: (s: CatalogSnapshot) => void): void {
    this.listeners.push(f);
  }

  current(): CatalogSnapshot {
    if (!this.snapshot) throw new CatalogError([`the catalog ${this.name} has not been read yet`]);
    return this.snapshot;
  }

  /** Problems of the last refresh that failed (the last good snapshot stays in use), or none. */
  problems(): string[] {
    return this.lastProblems;
  }

  /** Reads the source again; one read at a time (concurrent callers share it). Keeps the last good snapshot on failure. */
  refresh(): Promise<CatalogSnapshot> {
    this.refreshing ??= this.read()
      .then((s) => {
        const changed = s.revision !== this.snapshot?.revision;
        this.snapshot = s;
        this.lastProblems = [];
        if (changed) {
          this.o.log?.(
            `rearguard worker: catalog ${s.source} at ${s.revision.slice(0, 19)}: ${s.runbooks.length} runbook(s), policy ${s.policy.metadata.name}`,
          );
          for (const f of this.listeners) f(s);
        }
        return s;
      })
      .catch((err: unknown) => {
        this.lastProblems = err instanceof CatalogError ? err.problems : [(err as Error).message];
        if (this.snapshot)
          this.o.log?.(
            `rearguard worker: catalog ${this.name} not refreshed (keeping ${this.snapshot.revision.slice(0, 19)}): ${this.lastProblems.join('; ')}`,
          );
        throw err;
      })
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async read(): Promise<CatalogSnapshot> {
    const s = this.o.source;
    if (s.kind === 'dir') {
      const files = await readDirFiles(s.dir);
      return parseCatalog(files, s.dir, filesDigest(files));
    }
    return this.readGit(s);
  }

  /** Fetches REF of the repository into a bare repository and reads the catalog's files at that commit. */
  private async readGit(s: Extract<CatalogSource, { kind: 'git' }>): Promise<CatalogSnapshot> {
    let cfg;
    try {
      cfg = this.o.repos.get(s.repo);
    } catch (err) {
      throw new CatalogError([`${CATALOG_ENV}: ${(err as Error).message}`]);
    }
    const ref = s.ref ?? cfg.branch ?? 'HEAD';
    const git = new Git(this.o.gitBin, s.repo, cfg, this.o.env);
    const dir = join(this.o.workDir, 'catalog', s.repo);
    await mkdir(dir, { recursive: true });
    const must = async (args: string[], what: string): Promise<string> => {
      const r = await git.run(dir, args, 2 * 60_000);
      if (r.exitCode !== 0)
        throw new CatalogError([`${CATALOG_ENV} (git:${s.repo}@${ref}): ${what}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}`]);
      return r.stdout;
    };
    await must(['init', '--quiet', '--bare'], 'cannot create the local copy');
    // A branch or a tag: fetched to one local ref, forced (a branch may be rewritten; the new commit is read).
    await must(['fetch', '--quiet', '--force', '--no-tags', '--depth=1', '--', cfg.url, `${ref}:refs/rearguard/catalog`], `cannot fetch ${ref}`);
    const commit = (await must(['rev-parse', '--verify', 'refs/rearguard/catalog^{commit}'], `${ref} does not name a commit`)).trim();
    const prefix = s.path ? `${s.path}/` : '';
    const listing = await must(['ls-tree', '-r', '-z', '--long', '--full-tree', commit, '--', ...(s.path ? [s.path] : [])], 'cannot list the files');
    const files: Files = new Map();
    const problems: string[] = [];
    for (const line of listing.split('\0').filter(Boolean)) {
      const m = /^\d+ blob ([0-9a-f]+)\s+(-|\d+)\t(.*)$/s.exec(line);
      if (!m) continue;
      const [, blob, size, path] = m;
      if (!path!.startsWith(prefix)) continue;
      const rel = path!.slice(prefix.length);
      if (!(rel === POLICY_FILE || rel === SIGNERS_FILE || (rel.startsWith(`${RUNBOOKS_DIR}/`) && /\.ya?ml$/.test(rel)))) continue;
      if (Number(size) > MAX_FILE_BYTES) {
        problems.push(`${rel}: ${size} bytes, more than ${MAX_FILE_BYTES}`);
        continue;
      }
      // The exact bytes (git.run would strip the final newline), so the digest is the file's sha256.
      const r = await execa(this.o.gitBin, ['cat-file', 'blob', blob!], {
        cwd: dir,
        encoding: 'buffer',
        stripFinalNewline: false,
        reject: false,
        timeout: 60_000,
      });
      if (r.exitCode !== 0) throw new CatalogError([`${CATALOG_ENV} (git:${s.repo}@${ref}): cannot read ${rel}`]);
      files.set(rel, Buffer.from(r.stdout));
    }
    if (problems.length) throw new CatalogError(problems);
    return parseCatalog(files, `git:${s.repo}@${ref}${s.path ? `:${s.path}` : ''}`, commit);
  }
}

const noCatalog = () =>
  ApplicationFailure.nonRetryable(
    `this worker has no runbook catalog (development mode): give a runbook file instead of a name, or start the worker with ${CATALOG_ENV}`,
    'NoCatalog',
  );

export function catalogActivities(catalog: Catalog | undefined) {
  const index = (s: CatalogSnapshot): CatalogIndex => ({
    source: s.source,
    revision: s.revision,
    readAt: s.readAt,
    policy: s.policy.metadata.name,
    problems: catalog!.problems(),
    runbooks: s.runbooks,
  });
  return {
    /** The catalog's runbooks; `refresh` reads the source first (a failed refresh is reported in `problems`). */
    async catalogIndex({ refresh }: { refresh?: boolean } = {}): Promise<CatalogIndex> {
      if (!catalog) throw noCatalog();
      if (refresh) await catalog.refresh().catch(() => undefined);
      return index(catalog.current());
    },

    /**
     * One runbook by name; with a digest, exactly that content. An unknown name or another digest is
     * read again once (the catalog may have moved since the last periodic refresh), then refused
     * (non-retryable: the request names something the catalog does not hold).
     */
    async catalogRunbook(ref: CatalogRef): Promise<CatalogEntry & { revision: string; source: string }> {
      if (!catalog) throw noCatalog();
      const find = (s: CatalogSnapshot) => s.runbooks.find((r) => r.name === ref.name);
      let s = catalog.current();
      let found = find(s);
      if (!found || (ref.digest && found.digest !== ref.digest)) {
        s = await catalog.refresh().catch(() => catalog.current());
        found = find(s);
      }
      if (!found)
        throw ApplicationFailure.nonRetryable(
          `runbook ${ref.name} is not in the catalog ${s.source} at ${s.revision.slice(0, 19)} (it has: ${s.runbooks.map((r) => r.name).join(', ') || 'none'})`,
          'CatalogRunbookNotFound',
        );
      if (ref.digest && found.digest !== ref.digest)
        throw ApplicationFailure.nonRetryable(
          `runbook ${ref.name} changed between the trigger (${ref.digest}) and its load (${found.digest}, catalog ${s.source} at ${s.revision.slice(0, 19)}): refused; start it again to run the current version`,
          'CatalogRunbookChanged',
        );
      return { ...found, revision: s.revision, source: s.source };
    },
  };
}
