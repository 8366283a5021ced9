// Stopping `npm run <script>` stops the script: npm forwards SIGINT/SIGTERM to its child, and the scripts
// `exec` their node process so that child is the process itself, not a shell that would leave it running.
// The real npm, a real signal; demo:receiver stands for start and worker (same form, heavier to start).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../helpers/processes.js';
import { ROOT } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

describe('npm scripts and signals', () => {
  it('every long-running script execs its process', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['start', 'worker', 'demo:receiver']) assert.match(scripts[name], /(^|&& )exec node /, `${name}: ${scripts[name]}`);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to npm run demo:receiver stops the receiver`, async () => {
      const port = await freePort();
      const npm = spawn('npm', ['run', '--silent', 'demo:receiver'], {
        cwd: ROOT,
        env: { ...process.env, PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
      let exited = false;
      npm.on('exit', () => (exited = true));
      await waitFor(() => out.includes('demo receiver on'), 'the receiver to listen', { timeout: 30_000 });
      assert.equal(await listening(port), true);
      npm.kill(signal);
      try {
        await waitFor(() => exited, `npm to exit after ${signal}`, { timeout: 10_000 });
      } finally {
        npm.kill('SIGKILL');
      }
      await waitFor(async () => !(await listening(port)), `port ${port} to close after ${signal}`, { timeout: 10_000 });
    });
  }
});
