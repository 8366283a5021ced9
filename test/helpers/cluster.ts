// A real Temporal cluster for tests, as production runs one: the Temporal server (all four services in one
// process, built from the Go module proxy by scripts/provision.sh) on PostgreSQL (the machine's, started here in
// a temporary directory), with mutual TLS on the frontend and between the services. The CA and the certificates
// are made for each cluster by openssl. `env` is what a Rearguard process (CLI, worker, serve) needs to reach it,
// in the Temporal CLI's variables (api/temporal-connection.ts).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { toolPath } from './tools.js';
import { waitFor } from './wait.js';

const execFileAsync = promisify(execFile);
/** A command with a bound: a probe that hangs must not outlast the wait around it. */
const run = (cmd: string, args: string[]) => execFileAsync(cmd, args, { timeout: 30_000 });
/** PostgreSQL refuses to run as root: it runs as nobody (65534), the owner of its data directory. */
const NOBODY = 65534;

/** The newest PostgreSQL server installed from Debian's packages (postgresql-NN). */
function postgresBin(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'postgres'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`no PostgreSQL server under ${base}: install Debian's postgresql package (apt-get install postgresql-15)`);
  return join(base, newest, 'bin');
}

export interface ClusterCerts {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A CA, a certificate for the cluster (server and its own client: internode, system worker), one for clients. */
async function makeCerts(dir: string): Promise<ClusterCerts> {
  await mkdir(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const key = (name: string) => run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(name)]);
  await key('ca.key');
  await run('openssl', [
    'req', '-x509', '-new', '-key', f('ca.key'), '-sha256', '-days', '2', '-subj', '/CN=rearguard-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', f('ca.pem'),
  ]); // prettier-ignore
  const leaf = async (name: string, cn: string, eku: string, san: string) => {
    await key(`${name}.key`);
    await run('openssl', ['req', '-new', '-key', f(`${name}.key`), '-subj', `/CN=${cn}`, '-out', f(`${name}.csr`)]);
    await writeFile(
      f(`${name}.ext`),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${eku}\nsubjectAltName=${san}\n`,
    );
    await run('openssl', [
      'x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-sha256', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`),
    ]); // prettier-ignore
  };
  await leaf('server', 'localhost', 'serverAuth,clientAuth', 'DNS:localhost,IP:127.0.0.1');
  await leaf('client', 'rearguard-test-client', 'clientAuth', 'DNS:rearguard-test-client');
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

/**
 * A free port below 32768: the server stores its services' ports in a PostgreSQL smallint (cluster_membership), so
 * the kernel's ephemeral ports (32768 and up, which freePort gives) make it exit at start.
 */
async function portForMembership(taken: number[]): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.includes(port)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const probe = createServer().once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

interface Ports {
  pg: number;
  frontend: number;
  frontendMembership: number;
  frontendHttp: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
}

function serverConfig(p: Ports, certs: ClusterCerts, dynamicConfig: string): string {
  const store = (db: string, conns: number) => `
      sql:
        pluginName: postgres12
        databaseName: ${db}
        connectAddr: "127.0.0.1:${p.pg}"
        connectProtocol: tcp
        user: temporal
        password: ""
        maxConns: ${conns}
        maxIdleConns: ${conns}
        maxConnLifetime: 1h`;
  const tls = `
        server:
          certFile: ${certs.serverCert}
          keyFile: ${certs.serverKey}
          requireClientAuth: true
          clientCaFiles: [${certs.ca}]
        client:
          serverName: localhost
          rootCaFiles: [${certs.ca}]`;
  return `log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
    default:${store('temporal', 20)}
    visibility:${store('temporal_visibility', 10)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
  tls:
    internode:${tls}
    frontend:${tls}
services:
  frontend:
    rpc: { grpcPort: ${p.frontend}, membershipPort: ${p.frontendMembership}, httpPort: ${p.frontendHttp}, bindOnIP: 127.0.0.1 }
  history:
    rpc: { grpcPort: ${p.history}, membershipPort: ${p.historyMembership}, bindOnIP: 127.0.0.1 }
  matching:
    rpc: { grpcPort: ${p.matching}, membershipPort: ${p.matchingMembership}, bindOnIP: 127.0.0.1 }
  worker:
    rpc: { grpcPort: ${p.worker}, membershipPort: ${p.workerMembership}, bindOnIP: 127.0.0.1 }
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:${p.frontend}"
      httpAddress: "127.0.0.1:${p.frontendHttp}"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: ${dynamicConfig}
  pollInterval: 10s
`;
}

/** As the dev server sets them: search attributes read fresh, and room for the tests' bursts. */
const DYNAMIC_CONFIG = `system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
frontend.persistenceMaxQPS:
  - value: 10000
history.persistenceMaxQPS:
  - value: 45000
`;

export interface TemporalCluster {
  address: string;
  namespace: string;
  certs: ClusterCerts;
  /** TEMPORAL_ADDRESS and the TEMPORAL_TLS_* variables of a client with the client certificate. */
  env: Record<string, string>;
  /** The `temporal` CLI's flags for the same connection. */
  cliFlags: string[];
  log(): string;
  /** SIGKILLs the Temporal server (all four services) and starts it again on the same ports and database. */
  restartServer(o?: { downMs?: number }): Promise<void>;
  /** Stops PostgreSQL (fast shutdown: open connections are cut) and starts it again on the same data. */
  restartPostgres(o?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

function started(child: ChildProcess, name: string, output: () => string): Promise<never> {
  return new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`${name} exited (${code}):\n${output().slice(-4000)}`))));
}

/** Starts PostgreSQL, creates the schemas, starts the Temporal server with mTLS and registers the namespace. */
export async function startTemporalCluster(namespace = 'default'): Promise<TemporalCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'rearguard-cluster-'));
  const children: ChildProcess[] = [];
  let output = '';
  // A test run killed midway leaves no server behind.
  const killAll = () => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL'));
  process.once('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    for (const c of [...children].reverse()) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await exited;
      }
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  try {
    const certs = await makeCerts(join(dir, 'certs'));
    const free: number[] = [];
    for (let i = 0; i < 10; i++) free.push(await portForMembership(free));
    const keys: (keyof Ports)[] = [
      'pg',
      'frontend',
      'frontendMembership',
      'frontendHttp',
      'history',
      'historyMembership',
      'matching',
      'matchingMembership',
      'worker',
      'workerMembership',
    ];
    const ports = Object.fromEntries(keys.map((k, i) => [k, free[i]!])) as unknown as Ports;

    // PostgreSQL, owned by nobody when we are root; fsync off: a test's data need not survive the machine.
    const pg = postgresBin();
    const pgDir = join(dir, 'pg');
    await mkdir(pgDir, { mode: 0o700 });
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      // mkdtemp's directory is root's alone: nobody may pass through it to its own directory.
      await chmod(dir, 0o711);
      await chown(pgDir, NOBODY, NOBODY);
    }
    const user = asRoot ? { uid: NOBODY, gid: NOBODY } : {};
    await new Promise<void>((resolve, reject) => {
      const c = spawn(join(pg, 'initdb'), ['-D', join(pgDir, 'data'), '-U', 'temporal', '--auth=trust', '--no-locale', '-E', 'UTF8', '--no-sync'], {
        ...user,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      c.once('error', reject);
      c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`initdb exited ${code}:\n${out}`))));
    });
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-200_000));
    /** Starts a process of the cluster; its output goes to `log()`, its death before `stop` fails what awaits `died`. */
    const launch = (name: string, cmd: string, args: string[], opts: object) => {
      const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      const died = started(child, name, () => output);
      void died.catch(() => undefined);
      return { child, died };
    };
    const startPostgres = async () => {
      const p = launch('postgres', join(pg, 'postgres'), ['-D', join(pgDir, 'data'), '-p', String(ports.pg), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${pgDir}`, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'], user); // prettier-ignore
      await Promise.race([
        p.died,
        waitFor(async () => (await run(join(pg, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(ports.pg), '-U', 'temporal']).then(() => true).catch(() => undefined)), 'PostgreSQL', { timeout: 30_000 }),
      ]); // prettier-ignore
      return p;
    };
    let postgres = await startPostgres();

    // The schemas (built into temporal-sql-tool), each step safe to repeat.
    const sql = toolPath('temporal-sql-tool');
    for (const [db, schema] of [
      ['temporal', 'temporal'],
      ['temporal_visibility', 'visibility'],
    ] as const) {
      const base = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(ports.pg), '-u', 'temporal', '--db', db];
      await run(sql, [...base, 'create-database']);
      await run(sql, [...base, 'setup-schema', '-v', '0.0']);
      await run(sql, [...base, 'update-schema', '--schema-name', `postgresql/v12/${schema}`]);
    }

    const dynamicConfig = join(dir, 'dynamicconfig.yaml');
    const configFile = join(dir, 'temporal.yaml');
    await writeFile(dynamicConfig, DYNAMIC_CONFIG);
    await writeFile(configFile, serverConfig(ports, certs, dynamicConfig));
    const startServer = () => launch('temporal-server', toolPath('temporal-server'), ['--config-file', configFile, '--allow-no-auth', 'start'], {});
    let server = startServer();

    const address = `127.0.0.1:${ports.frontend}`;
    const cliFlags = [
      '--address',
      address,
      '--tls-cert-path',
      certs.clientCert,
      '--tls-key-path',
      certs.clientKey,
      '--tls-ca-path',
      certs.ca,
      '--tls-server-name',
      'localhost',
    ];
    const temporal = toolPath('temporal');
    const healthy = () =>
      Promise.race([
        server.died,
        postgres.died,
        waitFor(
          async () =>
            await run(temporal, ['operator', 'cluster', 'health', ...cliFlags])
              .then(() => true)
              .catch(() => undefined),
          'the Temporal server',
          {
            timeout: 90_000,
            detail: () => output.slice(-4000),
          },
        ),
      ]);
    await healthy();
    await run(temporal, ['operator', 'namespace', 'create', '--namespace', namespace, '--retention', '1d', ...cliFlags]);
    // The frontend learns of a new namespace within its cache's refresh: wait until it answers for it.
    await waitFor(
      async () =>
        await run(temporal, ['workflow', 'list', '--namespace', namespace, '--limit', '1', ...cliFlags])
          .then(() => true)
          .catch(() => undefined),
      `namespace ${namespace}`,
      { timeout: 30_000 },
    );
    const kill = async (child: ChildProcess, signal: NodeJS.Signals) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
      children.splice(children.indexOf(child), 1);
    };
    return {
      address,
      namespace,
      certs,
      env: {
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.ca,
        TEMPORAL_TLS_SERVER_NAME: 'localhost',
      },
      cliFlags,
      log: () => output,
      restartServer: async ({ downMs = 0 } = {}) => {
        await kill(server.child, 'SIGKILL');
        await new Promise((r) => setTimeout(r, downMs));
        server = startServer();
        await healthy();
      },
      restartPostgres: async ({ downMs = 0 } = {}) => {
        // SIGINT is PostgreSQL's fast shutdown: sessions are cut, committed data stays.
        await kill(postgres.child, 'SIGINT');
        await new Promise((r) => setTimeout(r, downMs));
        postgres = await startPostgres();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
