// The lock that lets several writers append to one audit file in turn (api/audit-file.ts): `<file>.lock`,
// created with O_EXCL; a lock left by a writer that died is taken away.
import { randomUUID } from 'node:crypto';
import { link, readFile, readlink, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * `<audit file>.lock`, created with O_EXCL, holding who took it. A lock left by a writer that died is taken
 * away: at once when its process is gone (same machine and PID namespace), otherwise when it is older than
 * `staleMs`. The holder checks the lock is still its own right before writing.
 */
export class AppendLock {
  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {}

  static async acquire(path: string, staleMs: number, waitMs: number): Promise<AppendLock> {
    const token = JSON.stringify({ host: hostname(), pid: process.pid, ...(await whereAmI()), nonce: randomUUID() });
    const deadline = Date.now() + waitMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await writeFile(path, token, { flag: 'wx', mode: 0o640 });
        return new AppendLock(path, token);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (await takeAwayIfStale(path, staleMs)) continue;
      if (Date.now() > deadline) {
        const holder = await readFile(path, 'utf8').catch(() => '');
        throw new Error(
          `the audit file is locked (${path}, held by ${holder || 'a writer starting up'}) for more than ${waitMs / 1000}s; if no Rearguard worker is writing, delete the lock file`,
        );
      }
      await delay(Math.min(1 + attempt, 25) * (0.5 + Math.random()));
    }
  }

  /** Throws when another writer took the lock away (this append took longer than the stale age). */
  async assertHeld(): Promise<void> {
    if ((await readFile(this.path, 'utf8').catch(() => '')) !== this.token)
      throw new Error(`lost the audit file's lock ${this.path}; the append will be retried`);
  }

  async release(): Promise<void> {
    if ((await readFile(this.path, 'utf8').catch(() => '')) === this.token) await unlink(this.path).catch(() => undefined);
  }
}

let here: Promise<{ boot?: string; pidns?: string }> | undefined;
/** This machine's boot ID and this process's PID namespace (Linux), to tell whether a lock holder's PID is ours to check. */
function whereAmI(): Promise<{ boot?: string; pidns?: string }> {
  here ??= Promise.all([readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => undefined), readlink('/proc/self/ns/pid').catch(() => undefined)]).then(
    ([boot, pidns]) => ({ ...(boot ? { boot: boot.trim() } : {}), ...(pidns ? { pidns } : {}) }),
  );
  return here;
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** True when the lock was stale and has been removed, or was already gone: try again at once. */
async function takeAwayIfStale(path: string, staleMs: number): Promise<boolean> {
  let judged: { ino: number; content: string };
  try {
    const s = await stat(path);
    judged = { ino: s.ino, content: await readFile(path, 'utf8') };
    let holder: { pid?: unknown; boot?: unknown; pidns?: unknown } = {};
    try {
      holder = JSON.parse(judged.content) as typeof holder;
    } catch {
      // Empty: its writer is between creating and filling it; judged by age alone.
    }
    const me = await whereAmI();
    const dead = typeof holder.pid === 'number' && !!me.boot && !!me.pidns && holder.boot === me.boot && holder.pidns === me.pidns && processGone(holder.pid);
    if (!dead && Date.now() - s.mtimeMs <= staleMs) return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
  // Move it aside atomically (one taker wins); if what moved is not the lock judged stale (another taker freed it
  // and a writer took it since), put it back.
  const aside = `${path}.${randomUUID()}.stale`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
  const moved = await stat(aside).catch(() => undefined);
  const content = await readFile(aside, 'utf8').catch(() => '');
  if (moved?.ino !== judged.ino || content !== judged.content) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
  return true;
}
