// `npm start`: a complete local Rearguard. Starts the Temporal dev server (built by
// scripts/provision.sh, state kept in .rearguard/) unless TEMPORAL_ADDRESS points at a server,
// then runs the worker with its metrics endpoint. Ctrl-C stops all of it. npm start runs the build of
// this file (dist/scripts/start.js, after `npm run build -- --if-stale`), so the worker is the compiled one
// with the prebuilt workflow bundle.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadWorkerConfig } from '../worker/config.js';
import { runWorker } from '../worker/run.js';

// The repository: two levels up from dist/scripts/start.js, one from the source.
const ROOT = fileURLToPath(new URL(import.meta.url.endsWith('.js') ? '../..' : '..', import.meta.url));
const STATE = `${ROOT}.rearguard`;
const TEMPORAL_PORT = Number(process.env.REARGUARD_DEV_PORT ?? 7233);
const UI_PORT = Number(process.env.REARGUARD_DEV_UI_PORT ?? 8233);

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

async function startDevServer(): Promise<ChildProcess> {
  if (await portOpen(TEMPORAL_PORT)) {
    throw new Error(`port ${TEMPORAL_PORT} is already in use: stop what runs there, or set TEMPORAL_ADDRESS to use that server`);
  }
  mkdirSync(STATE, { recursive: true });
  const temporal = process.env.TEMPORAL_CLI_PATH ?? `${ROOT}.tools/bin/temporal`;
  const server = spawn(
    temporal,
    [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(TEMPORAL_PORT),
      '--ui-port',
      String(UI_PORT),
      '--db-filename',
      `${STATE}/temporal.db`,
      '--log-level',
      'warn',
      '--namespace',
      'default',
    ],
    // Its own log goes to a file: the console stays for Rearguard's output.
    { stdio: ['ignore', 'ignore', openSync(`${STATE}/temporal.log`, 'a')] },
  );
  const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
  server.once('error', (err) => console.error(`cannot start ${temporal}: ${err.message} (run: bash scripts/provision.sh temporal)`));
  for (let i = 0; i < 300; i++) {
    if (await portOpen(TEMPORAL_PORT)) return server;
    if (server.exitCode !== null) break;
    await delay(100);
  }
  server.kill('SIGKILL');
  throw new Error(`the Temporal dev server did not start (exit ${await exited})`);
}

async function main(): Promise<void> {
  const external = process.env.TEMPORAL_ADDRESS;
  const server = external ? undefined : await startDevServer();
  // The embedded dev server has no TLS and one namespace: a Temporal CLI profile (temporal.toml) meant for another
  // cluster must not apply to it.
  if (!external) {
    const noProfiles = `${STATE}/temporal.toml`;
    writeFileSync(noProfiles, '# npm start: the embedded dev server, no TLS (scripts/start.ts)\n[profile.default]\n');
    process.env.TEMPORAL_CONFIG_FILE = noProfiles;
    delete process.env.TEMPORAL_PROFILE;
  }
  // The audit file: REARGUARD_AUDIT_FILE or the default the CLI reads too (api/audit-file.ts).
  // Development mode unless a catalog is configured: local runbooks and unsigned decisions are accepted, and
  // every start says so, loudly (a worker started any other way without a catalog refuses to start).
  const dev = !process.env.REARGUARD_CATALOG;
  const config = loadWorkerConfig(process.env, { address: external ?? `127.0.0.1:${TEMPORAL_PORT}`, ...(dev ? { dev: true } : {}) });
  // The dev server is our child: stop it whichever way we go (Ctrl-C reaches the worker's runtime,
  // which drains the worker first; then we end here).
  const stopServer = () => server?.exitCode === null && server.kill('SIGTERM');
  process.once('exit', stopServer);
  server?.once('exit', (code) => {
    console.error(`Temporal dev server exited (${code}); stopping.`);
    process.exit(1);
  });
  const bin = './bin/rearguard.js';
  console.log(
    [
      '',
      ...(dev
        ? [
            '*************************************************************************************',
            '*  DEVELOPMENT MODE: no runbook catalog. Local runbook files run in every environment, *',
            '*  and decisions need no signature unless REARGUARD_ALLOWED_SIGNERS is set. Never point *',
            '*  this at production: set REARGUARD_CATALOG (README, "Security model").              *',
            '*************************************************************************************',
          ]
        : [`Catalog: ${config.catalog} (production mode: catalog runbooks, signed decisions)`]),
      '',
      'Rearguard is running.',
      `  Temporal     ${config.address}${server ? ` (dev server, UI http://localhost:${UI_PORT}, state in .rearguard/temporal.db, log .rearguard/temporal.log)` : ' (external)'}`,
      `  Worker       task queue ${config.taskQueue}, metrics http://localhost:${config.metricsPort}/metrics`,
      `  Audit trail  ${config.auditFile}`,
      '',
      'Try it (in another terminal):',
      '  npm run demo:receiver                         # a local webhook receiver for the demo runbook',
      `  ${bin} runbook validate runbooks/demo-local.yaml`,
      `  ${bin} rollback start --runbook runbooks/demo-local.yaml --reason "trying Rearguard" --as dave --wait`,
      `  ${bin} rollback approve --env dev --service demo --as alice --reason "looks right"`,
      `  ${bin} audit --since 1h`,
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  try {
    await runWorker(config);
  } finally {
    server?.removeAllListeners('exit');
    stopServer();
  }
}

main().catch((err: unknown) => {
  console.error(`npm start: ${err instanceof ConfigError ? err.message : err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
