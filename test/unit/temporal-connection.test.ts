// The Temporal connection settings (api/temporal-connection.ts): the Temporal CLI's variables and profiles
// through @temporalio/envconfig, flags winning, clear errors without secrets. The files here are read as bytes
// (nothing parses a certificate before the TLS handshake), so plain text stands in for PEM.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { resolveTemporal, TemporalConfigError } from '../../api/temporal-connection.js';
import { loadWorkerConfig } from '../../worker/config.js';
import { CLI, cliEnv } from '../helpers/tools.js';

let dir: string;
/** An environment with none of the developer's settings: HOME without a temporal.toml, no TEMPORAL_* variables. */
const clean = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ HOME: dir, XDG_CONFIG_HOME: join(dir, '.config'), ...extra });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rearguard-temporal-conn-'));
  await writeFile(join(dir, 'client.crt'), 'CLIENT CERT');
  await writeFile(join(dir, 'client.key'), 'CLIENT KEY');
  await writeFile(join(dir, 'ca.crt'), 'CA CERT');
  await writeFile(
    join(dir, 'temporal.toml'),
    `[profile.default]
address = "default-host:7233"

[profile.prod]
address = "prod.example.com:7233"
namespace = "payments"
api_key = "secret-api-key-123"

[profile.mtls]
address = "mtls.example.com:7233"
[profile.mtls.tls]
client_cert_path = "${join(dir, 'client.crt')}"
client_key_path = "${join(dir, 'client.key')}"
server_ca_cert_path = "${join(dir, 'ca.crt')}"
server_name = "frontend.example.com"
`,
  );
});

describe('Temporal connection settings', () => {
  it('defaults to localhost:7233 and namespace default, without TLS', async () => {
    const t = await resolveTemporal(clean());
    assert.deepEqual(t.connection, { address: 'localhost:7233' });
    assert.equal(t.namespace, 'default');
    assert.match(t.describe, /TLS off/);
  });

  it('reads TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TLS variables', async () => {
    const t = await resolveTemporal(
      clean({
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        TEMPORAL_NAMESPACE: 'rearguard',
        TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.crt'),
        TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key'),
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'ca.crt'),
        TEMPORAL_TLS_SERVER_NAME: 'frontend',
      }),
    );
    assert.equal(t.connection.address, 'temporal.internal:7233');
    assert.equal(t.namespace, 'rearguard');
    const tls = t.connection.tls;
    assert.ok(tls && typeof tls === 'object');
    assert.equal(Buffer.from(tls.clientCertPair!.crt).toString(), 'CLIENT CERT');
    assert.equal(Buffer.from(tls.clientCertPair!.key).toString(), 'CLIENT KEY');
    assert.equal(Buffer.from(tls.serverRootCACertificate!).toString(), 'CA CERT');
    assert.equal(tls.serverNameOverride, 'frontend');
    assert.match(t.describe, /TLS on, client certificate/);
  });

  it('reads a profile of the configuration file (TEMPORAL_PROFILE), with the variables and then the flags winning', async () => {
    const file = { TEMPORAL_CONFIG_FILE: join(dir, 'temporal.toml') };
    assert.equal((await resolveTemporal(clean(file))).connection.address, 'default-host:7233');
    const prod = await resolveTemporal(clean({ ...file, TEMPORAL_PROFILE: 'prod' }));
    assert.deepEqual(prod.connection.address, 'prod.example.com:7233');
    assert.equal(prod.namespace, 'payments');
    assert.equal(prod.connection.apiKey, 'secret-api-key-123');
    // The API key turns TLS on (as the Temporal CLI does); the description says a key is used, never which.
    assert.ok(prod.connection.tls);
    assert.match(prod.describe, /API key; profile prod/);
    assert.doesNotMatch(prod.describe, /secret-api-key/);
    const mtls = await resolveTemporal(clean({ ...file, TEMPORAL_PROFILE: 'mtls' }));
    assert.equal((mtls.connection.tls as { serverNameOverride?: string }).serverNameOverride, 'frontend.example.com');
    const overridden = await resolveTemporal(clean({ ...file, TEMPORAL_PROFILE: 'prod', TEMPORAL_NAMESPACE: 'other' }), { address: 'flag:7233' });
    assert.equal(overridden.connection.address, 'flag:7233');
    assert.equal(overridden.namespace, 'other');
  });

  it('a missing certificate file or profile is a clear error naming it, without secrets', async () => {
    await assert.rejects(
      resolveTemporal(clean({ TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'missing.crt'), TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key') })),
      (err: unknown) => err instanceof TemporalConfigError && err.message.includes('missing.crt') && !err.message.includes('CLIENT KEY'),
    );
    await assert.rejects(
      resolveTemporal(clean({ TEMPORAL_CONFIG_FILE: join(dir, 'temporal.toml'), TEMPORAL_PROFILE: 'nope', TEMPORAL_API_KEY: 'secret-api-key-123' })),
      (err: unknown) => err instanceof TemporalConfigError && /nope/.test(err.message) && !err.message.includes('secret-api-key'),
    );
  });

  it('a broken configuration file is reported by line and column, never by quoting it', async () => {
    const broken = join(dir, 'broken.toml');
    await writeFile(broken, '[profile.default]\naddress = "x:1"\napi_key = "secret-api-key-123\nnamespace = "a"\n');
    await assert.rejects(
      resolveTemporal(clean({ TEMPORAL_CONFIG_FILE: broken })),
      (err: unknown) => err instanceof TemporalConfigError && /line 3, column \d+/.test(err.message) && !err.message.includes('secret-api-key'),
    );
  });

  it('the CLI refuses unusable settings as bad input (exit 2), before connecting', () => {
    const r = spawnSync(process.execPath, [CLI, 'rollback', 'list'], {
      env: cliEnv({
        ...process.env,
        ...clean({ TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'missing.crt'), TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key') }),
      }),
      encoding: 'utf8',
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /cannot read the Temporal connection settings .*missing\.crt/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('the worker leaves address and namespace to the profile unless set', () => {
    const c = loadWorkerConfig({ ...clean(), REARGUARD_DEV_MODE: '1' });
    assert.equal(c.address, undefined);
    assert.equal(c.namespace, undefined);
    assert.equal(loadWorkerConfig({ ...clean(), TEMPORAL_ADDRESS: 'x:1' }).address, 'x:1');
  });
});
