// `npm run chaos`: the full chaos run on a real Temporal cluster (test/helpers/chaos.ts) with its figures: kills,
// completions, double applications by kind, the longest recovery. Sizes and the seed come from CHAOS_* variables;
// exit 1 when a run ended wrong or anything was applied twice. `npm test` runs a short version (test/e2e/chaos.test.ts).
import { runChaos, type ChaosOptions } from '../test/helpers/chaos.js';

function int(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${name}: expected a whole number >= 0, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const options: ChaosOptions = {
  rollbacks: int('CHAOS_ROLLBACKS', 16),
  freezes: int('CHAOS_FREEZES', 4),
  kills: int('CHAOS_KILLS', 50),
  serverRestarts: int('CHAOS_SERVER_RESTARTS', 2),
  postgresRestarts: int('CHAOS_POSTGRES_RESTARTS', 2),
  concurrency: int('CHAOS_CONCURRENCY', 3),
  pauseMs: [int('CHAOS_PAUSE_MIN_MS', 1_500), int('CHAOS_PAUSE_MAX_MS', 4_000)],
  seed: int('CHAOS_SEED', Math.floor(Math.random() * 2 ** 31)),
  log: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
};
console.log(`chaos: ${JSON.stringify({ ...options, log: undefined })}`);
const report = await runChaos(options);
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
console.log(`
seed                        ${report.seed} (CHAOS_SEED=${report.seed} repeats this run)
worker SIGKILLs             ${report.kills}
Temporal server restarts    ${report.serverRestarts} (SIGKILL, 2 s down)
PostgreSQL restarts         ${report.postgresRestarts} (fast shutdown, 2 s down)
workers that exited alone   ${report.workerExits}
rollbacks succeeded         ${report.rollbacks.succeeded} / ${report.rollbacks.started}
freezes restored            ${report.freezes.restored} / ${report.freezes.started}
double applications         ${report.totalDuplicates}${Object.entries(report.duplicates)
  .map(([k, n]) => `\n  ${k.padEnd(30)}${n}`)
  .join('')}
interrupted, then completed${Object.entries(report.resumed)
  .map(([k, n]) => `\n  ${k.padEnd(30)}${n}`)
  .join('')}
disruptions that hit        ${report.during.rollbacks} with a rollback running, ${report.during.guardrailChanges} with guardrails going on or off
longest recovery            ${s(report.longestRecoveryMs)}
duration                    ${s(report.durationMs)}
${report.problems.length ? `problems:\n${report.problems.map((p) => `  ${p}`).join('\n')}` : 'problems                    none'}`);
process.exit(report.problems.length || report.totalDuplicates ? 1 : 0);
