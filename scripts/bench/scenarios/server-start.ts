// Start-up of the two Temporal servers the tests and `npm start` use: spawn -> frontend port open. No goal:
// context for the other figures (the SDK gives the Java test server about 5 s).
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../../test/helpers/processes.js';
import { toolPath } from '../../../test/helpers/tools.js';
import { envInt, median, spread, track } from '../lib.js';
import type { Figure, Scenario } from '../types.js';

async function timeToPort(cmd: string, args: string[], port: number): Promise<number> {
  const t0 = performance.now();
  const child = track(spawn(cmd, args, { stdio: 'ignore' }));
  try {
    for (;;) {
      const open = await new Promise<boolean>((r) => {
        const s = connect({ port, host: '127.0.0.1' });
        s.once('connect', () => (s.destroy(), r(true)));
        s.once('error', () => r(false));
      });
      if (open) return performance.now() - t0;
      if (child.exitCode !== null) throw new Error(`${cmd} exited ${child.exitCode} before opening port ${port}`);
      if (performance.now() - t0 > 30_000) throw new Error(`${cmd} did not open port ${port} within 30 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    child.kill('SIGKILL');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }
}

export const serverStart: Scenario = {
  name: 'server-start',
  description: 'Temporal dev server and Java test server: spawn -> port open',
  async run(ctx) {
    const n = envInt('BENCH_SERVER_RUNS', 3);
    const dev: number[] = [];
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      const dir = await mkdtemp(join(ctx.workDir, 'dev-'));
      dev.push(
        await timeToPort(
          toolPath('temporal'),
          ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--db-filename', join(dir, 'db'), '--log-level', 'error'],
          port,
        ),
      );
    }
    ctx.log(`dev server: ${spread(dev)}`);
    const java: number[] = [];
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      java.push(await timeToPort(toolPath('temporal-test-server'), [String(port)], port));
    }
    ctx.log(`test server: ${spread(java)}`);
    const figures: Figure[] = [
      { name: 'Temporal dev server: spawn -> port open, median', value: median(dev), unit: 'ms', note: spread(dev) },
      { name: 'Java test server: spawn -> port open, median', value: median(java), unit: 'ms', note: `${spread(java)}; the SDK allows ~5 s` },
    ];
    return figures;
  },
};
