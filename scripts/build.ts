// `npm run build`: the production code compiled to JavaScript in dist/ (tsc, tsconfig.build.json), and the
// workflows bundled once from that output into dist/workflow-bundle.js, which the compiled worker loads instead of
// running webpack at every start. Nothing in dist/ needs tsx: bin/rearguard.js and `node dist/worker/main.js`
// run it with plain node. dist/build-info.json, written last, records when the build read which sources: bin/ and
// `--if-stale` (npm start) compare them against it (bin/build-state.js).
//
//   npm run build                      build into dist/
//   npm run build -- --if-stale        only when dist/ is missing, unfinished or older than a source (npm start)
//   npm run build -- --out-dir DIR     build elsewhere (bin/rearguard.js runs dist/ only)
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, STAMP, buildProblem, sourceFiles } from '../bin/build-state.js';

/** Compiles and bundles into `outDir`; fails (with tsc's errors on the console) on a type error. */
async function build(outDir: string): Promise<void> {
  const startedAt = Date.now();
  const sources = sourceFiles();
  await mkdir(outDir, { recursive: true });
  await rm(join(outDir, STAMP), { force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const code = await new Promise<number | null>((done, fail) =>
    spawn(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir, '--tsBuildInfoFile', join(outDir, '.tsbuildinfo')], {
      stdio: 'inherit',
    })
      .once('error', fail)
      .once('exit', done),
  );
  if (code !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${code}): ${outDir} is not a usable build`);
  // From the compiled workflows: the bundle holds exactly the code the build emitted. (Loaded here: `--if-stale`
  // on a current build, every `npm start`, is done before it would have loaded.)
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error };
  const { workflowBundleOptions } = await import('../worker/bundle-options.js');
  const bundle = await bundleWorkflowCode({ ...workflowBundleOptions(join(outDir, 'workflows', 'index.js')), logger: quiet });
  await writeFile(join(outDir, 'workflow-bundle.js'), bundle.code);
  // The web console's browser code (console/), bundled by esbuild: serve sends these files as they are.
  const { bundleConsole } = await import('../client/console/bundle.js');
  const web = await bundleConsole();
  await mkdir(join(outDir, 'console'), { recursive: true });
  await Promise.all([writeFile(join(outDir, 'console', 'app.js'), web.js), writeFile(join(outDir, 'console', 'app.css'), web.css)]);
  await writeFile(join(outDir, STAMP), `${JSON.stringify({ startedAt, finishedAt: Date.now(), sources })}\n`);
  console.log(
    `build: ${outDir} (workflow bundle ${(bundle.code.length / 1024).toFixed(0)} KiB, console ${((web.js.length + web.css.length) / 1024).toFixed(0)} KiB) in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
  );
}

const { values } = parseArgs({ options: { 'if-stale': { type: 'boolean' }, 'out-dir': { type: 'string' } } });
const outDir = values['out-dir'] ? resolve(values['out-dir']) : join(ROOT, 'dist');
if (values['if-stale'] && buildProblem(ROOT, outDir) === undefined) console.log(`build: ${outDir} is up to date`);
else
  await build(outDir).catch((err: unknown) => {
    console.error(`build: ${(err as Error).message}`);
    process.exit(1);
  });
