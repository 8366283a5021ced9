// `npm run bench [-- --only a,b] [--check] [--json FILE] [--list]`: runs the scenarios of
// scripts/bench/scenarios/index.ts (all, or those named), prints one table (scenario, figure, value, goal,
// peer, ratio, pass/miss) and writes the figures as JSON (default .rearguard/bench-results.json). With
// --check the exit code is 1 when a goal is missed or a scenario fails; without it, 1 only when a scenario
// fails. Progress goes to stderr, the table to stdout. docs/benchmarks.md describes the scenarios and the goals.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, ensureBuild } from './lib.js';
import { judge, table, type ScenarioResult } from './report.js';
import { scenarios } from './scenarios/index.js';
import type { Scenario } from './types.js';

const USAGE = `usage: npm run bench -- [--only NAME[,NAME...]] [--check] [--json FILE] [--list]
  --only   run only these scenarios (see --list)
  --check  exit 1 when a goal is missed (or a scenario fails)
  --json   where the figures are written (default .rearguard/bench-results.json)
  --list   list the scenarios and exit
Scaling knobs (environment): see docs/benchmarks.md (BENCH_SCALE_FREEZES, BENCH_SCALE_GUARDS, BENCH_GATE_SECONDS, ...).`;

function machine() {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  return {
    cpus: cpus().length,
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model,
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    kernel: release(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: (git(['status', '--porcelain']) ?? '') !== '',
  };
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        only: { type: 'string', multiple: true },
        check: { type: 'boolean', default: false },
        json: { type: 'string' },
        list: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
    }).values;
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (args.list) {
    for (const s of scenarios) console.log(`${s.name.padEnd(18)} ${s.description}`);
    return 0;
  }
  const only = (args.only ?? [])
    .flatMap((o) => o.split(','))
    .map((o) => o.trim())
    .filter(Boolean);
  const unknown = only.filter((o) => !scenarios.some((s) => s.name === o));
  if (unknown.length) {
    console.error(`bench: --only: unknown scenario ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);
    return 2;
  }
  const chosen: Scenario[] = only.length ? scenarios.filter((s) => only.includes(s.name)) : scenarios;
  const jsonFile = resolve(args.json ?? join(ROOT, '.rearguard', 'bench-results.json'));
  const root = await mkdtemp(join(tmpdir(), 'rearguard-bench-'));
  const startedAt = new Date();
  const results: ScenarioResult[] = [];
  const t0 = performance.now();
  // Once, before any scenario: the compiled build (made when missing or stale), or the sources (lib.ts ensureBuild).
  const runs = await ensureBuild({ log: (l) => console.error(`[bench    0s] ${l}`) });
  console.error(`[bench    0s] Rearguard runs ${runs}`);
  for (const s of chosen) {
    const workDir = join(root, s.name);
    await mkdir(workDir, { recursive: true });
    const began = performance.now();
    const log = (l: string) => console.error(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${s.name}: ${l}`);
    log(`start (${s.description})`);
    const result: ScenarioResult = { name: s.name, description: s.description, seconds: 0, figures: [] };
    try {
      result.figures = (await s.run({ workDir, log })).map(judge);
    } catch (err) {
      result.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      log(`FAILED: ${result.error}`);
    }
    result.seconds = Number(((performance.now() - began) / 1000).toFixed(1));
    log(`done in ${result.seconds} s`);
    results.push(result);
  }
  if (process.env.BENCH_KEEP !== '1') await rm(root, { recursive: true, force: true }).catch(() => undefined);
  else console.error(`bench: scratch files kept in ${root}`);

  const figures = results.flatMap((r) => r.figures);
  const misses = figures.filter((f) => f.pass === false).length;
  const failed = results.filter((r) => r.error).length;
  const m = machine();
  await mkdir(dirname(jsonFile), { recursive: true });
  await writeFile(
    jsonFile,
    `${JSON.stringify({ startedAt: startedAt.toISOString(), seconds: Number(((performance.now() - t0) / 1000).toFixed(1)), machine: m, only, rearguard: runs, summary: { figures: figures.length, goals: figures.filter((f) => f.goal).length, misses, failedScenarios: failed }, scenarios: results }, null, 2)}\n`,
  );
  console.log(
    `\nRearguard benchmarks, ${startedAt.toISOString()}: ${m.nproc} cores (${m.cpuModel ?? '?'}), ${m.memoryGiB} GiB, Node ${m.node}, commit ${m.commit ?? '?'}${m.dirty ? ' (dirty tree)' : ''}; Rearguard ${runs}\n`,
  );
  console.log(table(results));
  console.log(`\n${figures.filter((f) => f.goal).length} goals: ${misses} missed; ${failed} scenario(s) failed. Figures written to ${jsonFile}`);
  if (failed > 0) return 1;
  return args.check && misses > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
