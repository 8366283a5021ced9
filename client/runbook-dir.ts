// The runbooks of `rearguard serve --runbooks DIR`, read once and re-read only when the directory
// changes: the alert intake answers from memory instead of parsing every YAML file on every alert.
// A change is noticed by an fs.watch on the directory (which also sees the atomic `..data` symlink
// swap a Kubernetes ConfigMap volume makes), and, in case the file system does not report events
// (some network and overlay mounts), by comparing file names, sizes and mtimes at most once per
// `recheckMs`.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadRunbook } from '../runbook/load.js';
import type { Runbook } from '../runbook/schema.js';
import type { CatalogIndex, CatalogRef } from '../runbook/catalog.js';

export interface RunbookFile {
  file: string;
  runbook: Runbook;
  /** A runbook of the worker's catalog: the rollback names it (and this digest), the worker loads it. */
  catalog?: CatalogRef;
}

/** Where the alert intake finds runbooks: a directory (development), or the worker's catalog. */
export interface RunbookSource {
  get(): Promise<RunbookSet>;
  close(): void;
}

export interface RunbookSet {
  runbooks: RunbookFile[];
  /** One line per file that is not a valid runbook: `file: problem; problem`. */
  problems: string[];
}

const isYaml = (f: string): boolean => /\.ya?ml$/.test(f);

/** Every valid runbook in DIR (*.yaml, *.yml), and one line per file that is not. */
export async function loadRunbookDir(dir: string): Promise<RunbookSet> {
  const names = (await readdir(dir)).filter(isYaml).sort();
  const runbooks: RunbookFile[] = [];
  const problems: string[] = [];
  for (const file of names) {
    const loaded = await loadRunbook(join(dir, file));
    if (loaded.ok) runbooks.push({ file, runbook: loaded.value });
    else problems.push(`${file}: ${loaded.problems.join('; ')}`);
  }
  return { runbooks, problems };
}

/** A fingerprint of the directory's YAML files: names, sizes and modification times (stat follows symlinks). */
async function fingerprint(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter(isYaml).sort();
  const parts = await Promise.all(
    names.map(async (f) => {
      const s = await stat(join(dir, f)).catch(() => undefined);
      return `${f}:${s?.size ?? '-'}:${s?.mtimeMs ?? '-'}`;
    }),
  );
  return parts.join('|');
}

export class RunbookDirectory implements RunbookSource {
  private current: { set: RunbookSet; print: string } | undefined;
  private loading: Promise<RunbookSet> | undefined;
  private dirty = true;
  private checkedAt = 0;
  private watcher: FSWatcher | undefined;

  constructor(
    readonly dir: string,
    private readonly recheckMs = 5_000,
  ) {
    try {
      this.watcher = watch(dir, { persistent: false }, () => {
        this.dirty = true;
      });
      this.watcher.on('error', () => {
        // The directory went away or cannot be watched any more: fall back to fingerprints.
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined;
    }
  }

  /** The runbooks as of now; reloads when the directory changed since the last call. */
  async get(): Promise<RunbookSet> {
    if (this.loading) return this.loading;
    if (this.current && !this.dirty && Date.now() - this.checkedAt < this.recheckMs) return this.current.set;
    this.loading = this.refresh().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async refresh(): Promise<RunbookSet> {
    // A watch event always reloads (a same-size rewrite within one mtime tick has the same fingerprint).
    const changed = this.dirty;
    this.dirty = false;
    const print = await fingerprint(this.dir);
    this.checkedAt = Date.now();
    if (this.current && !changed && this.current.print === print) return this.current.set;
    const set = await loadRunbookDir(this.dir);
    this.current = { set, print };
    return set;
  }

  close(): void {
    this.watcher?.close();
  }
}

/**
 * The worker's runbook catalog as the alert intake's source (`rearguard serve` without --runbooks): read
 * through a catalogIndex workflow, kept for `ttlMs` so a burst of alerts costs one read. A failed read
 * with a previous index keeps that index (alerts still start reviewed runbooks); without one it throws.
 */
export class CatalogRunbooks implements RunbookSource {
  private current: { set: RunbookSet; at: number } | undefined;
  private loading: Promise<RunbookSet> | undefined;

  constructor(
    private readonly read: () => Promise<CatalogIndex>,
    private readonly ttlMs = 5_000,
  ) {}

  async get(): Promise<RunbookSet> {
    if (this.current && Date.now() - this.current.at < this.ttlMs) return this.current.set;
    this.loading ??= this.read()
      .then((index) => {
        const set: RunbookSet = {
          // By name only: the rollback loads the catalog's current version on its worker (another worker's
          // snapshot may be a refresh ahead of the index read here, and an alert must not fail for that).
          runbooks: index.runbooks.map((e) => ({ file: e.file, runbook: e.runbook, catalog: { name: e.name } })),
          problems: index.problems,
        };
        this.current = { set, at: Date.now() };
        return set;
      })
      .catch((err: unknown) => {
        if (this.current) return this.current.set;
        throw err;
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  close(): void {}
}
