// Is the compiled build (`npm run build`: dist/) there, and as new as the sources it was built from? bin/rearguard.js
// asks before it runs dist/, and `npm start` (scripts/build.ts --if-stale) before it builds. Plain JavaScript, run
// on every CLI start: it reads the build's stamp and stats the sources it lists (about 170 files, 2 ms).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** What `npm run build` compiles (tsconfig.build.json) and bundles (console/, the web console), and what else changes its output (compiler settings, dependencies: the workflow bundle holds @temporalio/workflow). */
export const SOURCE_DIRS = ['runbook', 'api', 'workflows', 'activities', 'worker', 'client', 'console'];
export const SOURCE_FILES = ['scripts/start.ts', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];

/** Written last by a successful build: when it read the sources (`startedAt`) and which they were (`sources`). */
export const STAMP = 'build-info.json';

/** The sources of a build, relative to `root`: what its stamp lists (read at build time, so a CLI start only stats them). */
export function sourceFiles(root = ROOT) {
  const files = SOURCE_FILES.filter((f) => existsSync(join(root, f)));
  for (const dir of SOURCE_DIRS.filter((d) => existsSync(join(root, d))))
    for (const name of readdirSync(join(root, dir), { recursive: true })) if (/\.(ts|css)$/.test(name)) files.push(join(dir, name));
  return files;
}

/**
 * Why the build in `outDir` cannot be run, in one line, or undefined when it can: missing, unfinished, or older than
 * one of its sources (changed or removed since it started; a new file counts once a source imports it, as that one
 * changed). Without the sources beside it (an image or package holding only dist/), a finished build is current.
 */
export function buildProblem(root = ROOT, outDir = join(root, 'dist')) {
  const fix = 'run `npm run build` (or set REARGUARD_FROM_SOURCE=1 to run the TypeScript sources through tsx)';
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(outDir, STAMP), 'utf8'));
  } catch {
    // missing or unreadable: below
  }
  if (!Number.isFinite(stamp?.startedAt) || !Array.isArray(stamp.sources)) return `no finished build in ${outDir}: ${fix}`;
  if (!existsSync(join(root, 'client', 'main.ts'))) return undefined;
  for (const file of stamp.sources) {
    const modified = statSync(join(root, file), { throwIfNoEntry: false })?.mtimeMs;
    if (modified === undefined || modified > stamp.startedAt)
      return `the build in ${outDir} is older than the sources (${file} ${modified === undefined ? 'was removed' : 'changed'}): ${fix}`;
  }
  return undefined;
}
