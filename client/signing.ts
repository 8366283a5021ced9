// Signing human decisions the way git signs commits with gpg.format=ssh: `ssh-keygen -Y sign -n rearguard
// -f KEY` over the canonical payload (runbook/decision.ts), the message on stdin, the armored signature on
// stdout. The key: the --signing-key option, else REARGUARD_SIGNING_KEY, else git's user.signingkey. It may
// be a private key file, or a public key whose private half is in ssh-agent (as git allows, also given
// literally as `key::ssh-ed25519 AAAA...` or `ssh-ed25519 AAAA...`). Child processes get argument arrays,
// never a shell; failures are CliErrors naming the key, where it came from and what was expected.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { canonicalDecision, DECISION_NAMESPACE, type SignedDecision } from '../runbook/decision.js';
import { ED25519, parseSshSignature, sshFingerprint, SshSigError } from '../runbook/sshsig.js';
import { badInput, failed } from './errors.js';

type Env = Record<string, string | undefined>;

export interface SigningOptions {
  /** The key from the command line (a path, or a literal public key); wins over the environment and git. */
  key?: string;
  /** How the command-line option is spelled in messages (default --signing-key). */
  keyOption?: string;
  /** The environment of ssh-keygen and git (default process.env): REARGUARD_SIGNING_KEY, SSH_AUTH_SOCK, PATH, HOME. */
  env?: Env;
  /** Where git looks for its configuration (default the current directory). */
  cwd?: string;
  /** The ssh-keygen to run (default `ssh-keygen` on PATH). */
  sshKeygen?: string;
  /** How long ssh-keygen may take, passphrase prompt included (default 2 minutes). */
  timeoutMs?: number;
}

export interface SigningKey {
  /** The file given to ssh-keygen -f. */
  path: string;
  /** Where the key came from, as users name it: `--signing-key`, `REARGUARD_SIGNING_KEY`, `git config user.signingkey`. */
  source: string;
  /** A public key whose private half must be in ssh-agent (ssh-keygen -U). */
  agent: boolean;
}

export interface Signed {
  /** The armored signature (`-----BEGIN SSH SIGNATURE-----` ...). */
  signature: string;
  /** SHA256:... of the signing key, as ssh-keygen -l prints it. */
  fingerprint: string;
  key: SigningKey;
}

const KEY_HELP = 'expected an OpenSSH ed25519 private key file (ssh-keygen -t ed25519), or its .pub with the private key loaded in ssh-agent';
const LITERAL_KEY = /^(?:key::)?((?:ssh-|ecdsa-|sk-)[A-Za-z0-9@._-]+\s+[A-Za-z0-9+/=]+.*)$/s;
const PUBLIC_KEY = /^([A-Za-z0-9][A-Za-z0-9@._-]*)\s+[A-Za-z0-9+/]+={0,2}(\s|$)/;

async function gitSigningKey(o: SigningOptions, env: Env): Promise<string | undefined> {
  const r = await execa('git', ['config', '--get', 'user.signingkey'], {
    cwd: o.cwd,
    env: { ...env, LANG: 'C', LC_ALL: 'C' },
    extendEnv: false,
    reject: false,
    timeout: 10_000,
    stdin: 'ignore',
  });
  // git missing, outside a repository without global config, or the key unset: no key from git.
  if (r.exitCode !== 0) return undefined;
  const value = String(r.stdout).trim();
  return value || undefined;
}

function expandHome(path: string, env: Env): string {
  if (path === '~' || path.startsWith('~/')) return join(env.HOME || homedir(), path.slice(1));
  return path;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Finds the signing key and checks it before ssh-keygen runs: the file exists and is an SSH key, a public
 * key is ssh-ed25519 and (unless its private key is beside it) has ssh-agent to sign with. `cleanup` removes
 * the temporary file a literal key is written to.
 */
export async function resolveSigningKey(o: SigningOptions = {}): Promise<SigningKey & { cleanup: () => Promise<void> }> {
  const env = o.env ?? process.env;
  const option = o.keyOption ?? '--signing-key';
  let value: string | undefined;
  let source: string;
  if (o.key !== undefined && o.key.trim() !== '') [value, source] = [o.key.trim(), option];
  else if (env.REARGUARD_SIGNING_KEY?.trim()) [value, source] = [env.REARGUARD_SIGNING_KEY.trim(), 'REARGUARD_SIGNING_KEY'];
  else [value, source] = [await gitSigningKey(o, env), 'git config user.signingkey'];
  if (!value) {
    throw badInput(
      `no signing key: pass ${option} KEY, set REARGUARD_SIGNING_KEY, or set git's user.signingkey (git config --global user.signingkey ~/.ssh/id_ed25519.pub)`,
      `  ${KEY_HELP}`,
    );
  }
  const noCleanup = async () => {};
  const literal = LITERAL_KEY.exec(value);
  if (literal) {
    // git's convention: the public key itself instead of a path; its private half is in ssh-agent.
    const keyType = literal[1].split(/\s/)[0];
    if (keyType !== ED25519) throw badInput(`${source}: the key is ${keyType}; Rearguard verifies ssh-ed25519 signatures only (ssh-keygen -t ed25519)`);
    if (!env.SSH_AUTH_SOCK) throw badInput(`${source}: a public key is given, so its private half must be in ssh-agent, but SSH_AUTH_SOCK is not set`);
    const dir = await mkdtemp(join(tmpdir(), 'rearguard-signing-'));
    const path = join(dir, 'signing-key.pub');
    await writeFile(path, `${literal[1].trim()}\n`, { mode: 0o600 });
    return { path, source, agent: true, cleanup: () => rm(dir, { recursive: true, force: true }) };
  }
  const path = resolve(o.cwd ?? process.cwd(), expandHome(value, env));
  let text: string;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOTFILE' });
    if (st.size > 64 * 1024) throw Object.assign(new Error('too big'), { code: 'ETOOBIG' });
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'is not readable'
          : code === 'ENOTFILE'
            ? 'is not a file'
            : code === 'ETOOBIG'
              ? 'is too big to be an SSH key'
              : `cannot be read (${code ?? (err as Error).message})`;
    throw badInput(`signing key ${path} (from ${source}) ${what}: ${KEY_HELP}`);
  }
  if (/^-----BEGIN [A-Z ]*PRIVATE KEY-----/m.test(text)) return { path, source, agent: false, cleanup: noCleanup };
  const pub = PUBLIC_KEY.exec(text.trim());
  if (!pub) throw badInput(`signing key ${path} (from ${source}) is not an SSH key: ${KEY_HELP}`);
  if (pub[1] !== ED25519)
    throw badInput(`signing key ${path} (from ${source}) is ${pub[1]}; Rearguard verifies ssh-ed25519 signatures only (ssh-keygen -t ed25519)`);
  // A .pub beside its private key: ssh-keygen uses ssh-agent when it holds the key, else the private file.
  if (path.endsWith('.pub') && (await exists(path.slice(0, -4)))) return { path, source, agent: false, cleanup: noCleanup };
  if (!env.SSH_AUTH_SOCK) {
    throw badInput(
      `signing key ${path} (from ${source}) is a public key without its private key beside it: the private half must be in ssh-agent, but SSH_AUTH_SOCK is not set`,
    );
  }
  return { path, source, agent: true, cleanup: noCleanup };
}

/** The last lines ssh-keygen printed, without its "Signing data on standard input" chatter. */
function keygenSays(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Signing data on standard input$/.test(l));
  return lines.slice(-3).join('; ') || 'no message';
}

/** Signs `message` (its UTF-8 bytes) with `ssh-keygen -Y sign -n rearguard`; the key as resolveSigningKey finds it. */
export async function signMessage(message: string, o: SigningOptions = {}): Promise<Signed> {
  const env = o.env ?? process.env;
  const exe = o.sshKeygen ?? 'ssh-keygen';
  const key = await resolveSigningKey(o);
  const args = ['-Y', 'sign', '-n', DECISION_NAMESPACE, '-f', key.path, ...(key.agent ? ['-U'] : [])];
  const command = `${exe} ${args.join(' ')}`;
  try {
    const r = await execa(exe, args, {
      input: message,
      env: { ...env, LANG: 'C', LC_ALL: 'C' },
      extendEnv: false,
      reject: false,
      timeout: o.timeoutMs ?? 120_000,
      stripFinalNewline: false,
      maxBuffer: 1 << 20,
    });
    if (r.exitCode === undefined && !r.timedOut) {
      const notFound = (r as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(r.originalMessage ?? r.shortMessage));
      throw failed(
        notFound
          ? `${exe} not found: install OpenSSH 8.2 or newer (ssh-keygen -Y sign) to sign decisions`
          : `${command}: ${r.originalMessage ?? r.shortMessage}`,
      );
    }
    if (r.timedOut)
      throw failed(
        `${command} (key from ${key.source}) did not finish within ${Math.round((o.timeoutMs ?? 120_000) / 1000)}s (waiting for a passphrase or ssh-agent?)`,
      );
    const stderr = String(r.stderr ?? '');
    if (r.exitCode !== 0) {
      const hint = key.agent
        ? 'expected ssh-agent (SSH_AUTH_SOCK) to hold the private half of this public key (ssh-add it)'
        : /passphrase/i.test(stderr)
          ? 'a passphrase-protected key needs a terminal to ask on, or load it in ssh-agent (ssh-add) and give its .pub'
          : KEY_HELP;
      throw badInput(`could not sign with key ${key.path} (from ${key.source}): ssh-keygen says: ${keygenSays(stderr)}`, `  ${hint}`);
    }
    const signature = String(r.stdout);
    let parsed;
    try {
      parsed = parseSshSignature(signature);
    } catch (err) {
      if (err instanceof SshSigError) throw failed(`${command} printed no SSH signature: ${err.message}`);
      throw err;
    }
    if (parsed.keyType !== ED25519) {
      throw badInput(
        `signing key ${key.path} (from ${key.source}) is ${parsed.keyType}; Rearguard verifies ssh-ed25519 signatures only (ssh-keygen -t ed25519)`,
      );
    }
    return { signature, fingerprint: sshFingerprint(parsed.publicKey), key: { path: key.path, source: key.source, agent: key.agent } };
  } finally {
    await key.cleanup();
  }
}

/** Signs a decision: the canonical payload (exactly what a workflow will verify) and its signature. */
export async function signDecision(d: SignedDecision, o: SigningOptions = {}): Promise<Signed & { payload: string }> {
  let payload: string;
  try {
    payload = canonicalDecision(d);
  } catch (err) {
    throw badInput((err as Error).message);
  }
  return { payload, ...(await signMessage(payload, o)) };
}
