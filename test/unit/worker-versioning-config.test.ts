// REARGUARD_BUILD_ID and REARGUARD_DEPLOYMENT (Worker Versioning): accepted as given, unset means an unversioned
// worker, and a hostile or malformed value is refused at start naming the flag, the variable and what is expected.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadWorkerConfig } from '../../worker/config.js';

const refused = (env: NodeJS.ProcessEnv, pattern: RegExp) =>
  assert.throws(
    () => loadWorkerConfig(env),
    (err: unknown) => err instanceof ConfigError && pattern.test(err.message),
  );

describe('worker versioning settings', () => {
  it('a build ID and deployment are taken as given; none means unversioned, deployment rearguard', () => {
    const c = loadWorkerConfig({ REARGUARD_BUILD_ID: '1.4.0+g3f2a1c', REARGUARD_DEPLOYMENT: 'rearguard-eu' });
    assert.equal(c.buildId, '1.4.0+g3f2a1c');
    assert.equal(c.deploymentName, 'rearguard-eu');
    const d = loadWorkerConfig({});
    assert.equal(d.buildId, undefined);
    assert.equal(d.deploymentName, 'rearguard');
  });

  it('refuses malformed or hostile values, naming the flag and the variable', () => {
    refused({ REARGUARD_BUILD_ID: '1.0 ; rm -rf /' }, /--build-id \(env REARGUARD_BUILD_ID\): expected 1-100 letters, digits/);
    refused({ REARGUARD_BUILD_ID: '-x' }, /--build-id \(env REARGUARD_BUILD_ID\): .*starting with a letter or digit/);
    refused({ REARGUARD_BUILD_ID: 'a'.repeat(101) }, /--build-id/);
    refused({ REARGUARD_DEPLOYMENT: 'rear.guard' }, /--deployment \(env REARGUARD_DEPLOYMENT\): expected 1-100 letters, digits, "_" or "-"/);
  });
});
