// Goal 2, the CLI's own cost: `rearguard --version` against `kubectl version --client` (both only start and
// exit), paired in the same run; `rearguard freeze check` against a running dev server and worker (process
// start to exit), directly and through `rearguard serve` (REARGUARD_SERVE_URL); and `runbook validate` (no server) as an extra figure. The CLI runs as users run it,
// node bin/rearguard.js: from dist/ once the build exists (made first when `npm run build` exists and dist/ is
// missing), else from the sources through tsx.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { startFreeze } from '../../../api/freezes.js';
import type { FreezeWindowInput } from '../../../runbook/freeze.js';
import {
  ROOT,
  ensureBuild,
  envInt,
  median,
  onPath,
  prebuiltBundle,
  rearguardCommand,
  rearguardEnv,
  spawnWorker,
  spread,
  startDevServer,
  startServe,
  timeCommand,
  timePaired,
} from '../lib.js';
import type { Figure, Scenario } from '../types.js';

const DAY = 86_400_000;

/** kubectl: REARGUARD_KUBECTL_BIN, else kubectl on PATH (the tests' differential reference, test/testbed). */
function kubectlPath(): string {
  const path = process.env.REARGUARD_KUBECTL_BIN || onPath('kubectl');
  if (!path) throw new Error('kubectl not found on PATH (set REARGUARD_KUBECTL_BIN): the cli scenario compares against it');
  return path;
}

export const cli: Scenario = {
  name: 'cli',
  description: 'CLI start-up: --version vs kubectl, freeze check against a dev server, runbook validate',
  async run(ctx) {
    const n = envInt('BENCH_CLI_RUNS', 15);
    const mode = await ensureBuild(ctx);
    const figures: Figure[] = [];

    ctx.log(`rearguard --version vs kubectl version --client, ${n} pairs (CLI: ${mode})`);
    const paired = await timePaired(rearguardCommand(['--version']), { cmd: kubectlPath(), args: ['version', '--client'] }, n);
    const rg = median(paired.a);
    const kc = median(paired.b);
    figures.push(
      { name: 'rearguard --version: median', value: rg, unit: 'ms', note: `${spread(paired.a)}; CLI ${mode}` },
      {
        name: 'rearguard --version / kubectl version --client (medians)',
        value: rg / kc,
        unit: 'x',
        goal: { op: '<=', value: 2 },
        peer: { name: 'kubectl version --client', value: kc, unit: 'ms' },
        note: `kubectl ${spread(paired.b)}; runs alternated`,
      },
    );

    // The floor any Node CLI starts from: what of the ratio is the runtime's, and what is Rearguard's own.
    const bare = await timeCommand({ cmd: process.execPath, args: ['-e', '0'] }, n);
    figures.push({
      name: 'node -e 0 (the runtime alone): median',
      value: median(bare),
      unit: 'ms',
      note: `${spread(bare)}; ${(median(bare) / kc).toFixed(2)}x kubectl: Rearguard's own start-up is --version minus this, ${(rg - median(bare)).toFixed(0)} ms`,
    });

    ctx.log(`rearguard runbook validate, ${n} runs`);
    const validate = await timeCommand(rearguardCommand(['runbook', 'validate', join(ROOT, 'runbooks/payments-prod.yaml')]), n);
    figures.push({ name: 'rearguard runbook validate: median', value: median(validate), unit: 'ms', note: spread(validate) });

    const env = await startDevServer(ctx);
    try {
      const taskQueue = `bench-cli-${randomUUID()}`;
      const e = rearguardEnv(env, ctx.workDir, taskQueue, { REARGUARD_WORKFLOW_BUNDLE: (await prebuiltBundle(ctx)).file });
      const worker = spawnWorker(e);
      try {
        await worker.ready;
        // Two running freezes the check must read (neither covers prod/x: the answer is allowed, exit 0).
        const now = Date.now();
        const freeze = (name: string, environments: string[], services: string[]): FreezeWindowInput => ({
          name,
          scope: { environments, services },
          reason: 'bench',
          actor: 'bench',
          start: new Date(now).toISOString(),
          end: new Date(now + 3 * DAY).toISOString(),
          exceptions: { approvers: ['rm-bo'], quorum: 1 },
        });
        await startFreeze(env.client, taskQueue, freeze('bench-payments', ['prod'], ['payments']));
        await startFreeze(env.client, taskQueue, freeze('bench-staging', ['staging'], ['*']));
        ctx.log(`rearguard freeze check --env prod --service x, ${n} runs (2 running freezes)`);
        const check = await timeCommand(rearguardCommand(['freeze', 'check', '--env', 'prod', '--service', 'x'], e), n);
        figures.push({
          name: 'rearguard freeze check (dev server, 2 freezes): median',
          value: median(check),
          unit: 'ms',
          goal: { op: '<=', value: 300 },
          note: `${spread(check)}; process start to exit, answer allowed`,
        });
        // The frozen answer (exit 3) reads the same freezes, and renders the blocking window.
        const frozen = await timeCommand(rearguardCommand(['freeze', 'check', '--env', 'prod', '--service', 'payments'], e, [3]), Math.min(n, 5));
        figures.push({ name: 'rearguard freeze check, frozen (exit 3): median', value: median(frozen), unit: 'ms', note: spread(frozen) });

        // Through rearguard serve (REARGUARD_SERVE_URL, as a CI fleet would run it): one HTTP request, no Temporal client.
        const serve = await startServe(e);
        try {
          const viaServe = { ...e, REARGUARD_SERVE_URL: serve.url };
          ctx.log(`rearguard freeze check --env prod --service x with REARGUARD_SERVE_URL, ${n} runs`);
          const served = await timeCommand(rearguardCommand(['freeze', 'check', '--env', 'prod', '--service', 'x'], viaServe), n);
          const servedFrozen = await timeCommand(
            rearguardCommand(['freeze', 'check', '--env', 'prod', '--service', 'payments'], viaServe, [3]),
            Math.min(n, 5),
          );
          figures.push({
            name: 'rearguard freeze check through rearguard serve (REARGUARD_SERVE_URL, 2 freezes): median',
            value: median(served),
            unit: 'ms',
            goal: { op: '<=', value: 300 },
            note: `${spread(served)}; process start to exit, answer allowed; frozen (exit 3) median ${median(servedFrozen).toFixed(0)} ms`,
          });
        } finally {
          await serve.stop();
        }
      } finally {
        await worker.stop();
      }
    } finally {
      await env.teardown();
    }
    return figures;
  },
};
