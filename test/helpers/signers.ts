// People with SSH keys for tests of signed decisions: real ed25519 keys from ssh-keygen in a temporary
// directory, an OpenSSH allowed_signers file listing some of them (as the catalog or REARGUARD_ALLOWED_SIGNERS
// would), and signatures made the way the CLI makes them (client/signing.ts). One copy, so every test of a
// signed decision sets up keys the same way.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { execa } from 'execa';
import { loadTrustSettings, type TrustSettings } from '../../activities/trust.js';
import type { SignedEnvelope } from '../../api/messages.js';
import { signDecision } from '../../client/signing.js';
import type { SignedDecision } from '../../runbook/decision.js';

export interface Signers {
  /** The temporary directory holding the keys (`<name>`, `<name>.pub`) and `allowed_signers`. */
  dir: string;
  /** The allowed_signers file, listing the `listed` people (principal = name, namespaces="rearguard"). */
  allowedSigners: string;
  /** As a worker with REARGUARD_ALLOWED_SIGNERS = allowedSigners loads it: signatures required. */
  required: TrustSettings;
  /** The private key file of `name`. */
  key(name: string): string;
  /** An allowed_signers line giving `principal` the key of `name`. */
  line(principal: string, name?: string): Promise<string>;
  /** `d` signed with `name`'s key (who need not be d.actor: impersonation tests sign with the wrong key). */
  sign(name: string, d: SignedDecision): Promise<SignedEnvelope>;
  /** The SHA256 fingerprint of `name`'s key, as ssh-keygen -l prints it. */
  fingerprint(name: string): Promise<string>;
}

async function makeSigners(prefix: string, names: readonly string[], listed: readonly string[]): Promise<Signers> {
  const dir = await mkdtemp(join(tmpdir(), `rearguard-${prefix}-`));
  await Promise.all(names.map((n) => execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', n, '-f', join(dir, n)])));
  const line = async (principal: string, name = principal) =>
    `${principal} namespaces="rearguard" ${(await readFile(join(dir, `${name}.pub`), 'utf8')).trim()}`;
  const allowedSigners = join(dir, 'allowed_signers');
  await writeFile(allowedSigners, `${(await Promise.all(listed.map((n) => line(n)))).join('\n')}\n`);
  return {
    dir,
    allowedSigners,
    required: loadTrustSettings({ REARGUARD_ALLOWED_SIGNERS: allowedSigners }),
    key: (name) => join(dir, name),
    line,
    async sign(name, d) {
      // HOME and PATH only: no signing key or git configuration of the machine running the tests.
      const { payload, signature } = await signDecision(d, { key: join(dir, name), env: { PATH: process.env.PATH, HOME: dir } });
      return { payload, signature };
    },
    fingerprint: async (name) => (await execa('ssh-keygen', ['-l', '-f', join(dir, `${name}.pub`)])).stdout.split(' ')[1]!,
  };
}

/**
 * Keys for `names`, made before the file's tests and removed after them; allowed_signers lists `listed`
 * (default: everyone). Read the result's fields inside tests or hooks, once `before` has run.
 */
export function useSigners(prefix: string, names: readonly string[], listed: readonly string[] = names): Signers {
  const holder = {} as Signers;
  before(async () => void Object.assign(holder, await makeSigners(prefix, names, listed)));
  after(async () => {
    if (holder.dir) await rm(holder.dir, { recursive: true, force: true });
  });
  return holder;
}
