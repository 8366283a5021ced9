// bin/build-state.js: when bin/rearguard.js refuses the compiled build in dist/ (missing, unfinished, older than a
// source) and when `npm start` rebuilds. The build itself, and the CLI and worker it makes: test/e2e/build.test.ts.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { STAMP, buildProblem, sourceFiles } from '../../bin/build-state.js';

let root: string;
const dist = () => join(root, 'dist');
/** What a build that started at `startedAt` writes last. */
const stamp = (startedAt: unknown, sources: unknown = sourceFiles(root)) => writeFile(join(dist(), STAMP), JSON.stringify({ startedAt, sources }));
/** Sets a file's modification time. */
const touch = (file: string, time: string) => utimes(join(root, file), new Date(time), new Date(time));

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'rearguard-build-state-'));
  await mkdir(join(root, 'client', 'commands'), { recursive: true });
  await mkdir(join(root, 'runbook'));
  await mkdir(dist());
  for (const file of ['client/main.ts', 'client/commands/freeze.ts', 'client/notes.md', 'runbook/schema.ts', 'tsconfig.json', 'package-lock.json']) {
    await writeFile(join(root, file), '');
    await touch(file, '2026-01-01T00:00:00Z');
  }
});

describe('the compiled build', () => {
  it('lists its sources: the TypeScript of the compiled folders and the files that change its output', () => {
    assert.deepEqual(sourceFiles(root).sort(), ['client/commands/freeze.ts', 'client/main.ts', 'package-lock.json', 'runbook/schema.ts', 'tsconfig.json']);
  });

  it('is missing until a build has finished (its stamp is written last)', async () => {
    assert.match(buildProblem(root, dist()) ?? '', /^no finished build in .*dist: run `npm run build` \(or set REARGUARD_FROM_SOURCE=1 /);
    await stamp('garbage');
    assert.match(buildProblem(root, dist()) ?? '', /^no finished build/);
  });

  it('is current when none of its sources changed after it started, and stale naming the first that did', async () => {
    await stamp(Date.parse('2026-02-01T00:00:00Z'));
    assert.equal(buildProblem(root, dist()), undefined);
    await touch('client/commands/freeze.ts', '2026-02-01T00:00:01Z');
    assert.match(
      buildProblem(root, dist()) ?? '',
      /^the build in .*dist is older than the sources \(client\/commands\/freeze\.ts changed\): run `npm run build`/,
    );
    await touch('client/commands/freeze.ts', '2026-01-01T00:00:00Z');
    await touch('package-lock.json', '2026-03-01T00:00:00Z');
    assert.match(buildProblem(root, dist()) ?? '', /\(package-lock\.json changed\)/, 'new dependencies: the workflow bundle holds some');
    await touch('package-lock.json', '2026-01-01T00:00:00Z');
    await rm(join(root, 'runbook', 'schema.ts'));
    assert.match(buildProblem(root, dist()) ?? '', /\(runbook\/schema\.ts was removed\)/);
  });

  it('is what it is where the sources are not beside it (an image with dist/ only)', async () => {
    await rm(join(root, 'client'), { recursive: true });
    assert.equal(buildProblem(root, dist()), undefined);
    await rm(join(dist(), STAMP));
    assert.match(buildProblem(root, dist()) ?? '', /^no finished build/);
  });
});
