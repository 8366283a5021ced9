// Long-running helper processes of a test (GitOps controllers, Redis): started together, their output kept (the last
// 200 kB, each line prefixed with its process's name) for failure messages, killed if the test process exits, and
// stopped together with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';

export interface Daemons {
  start(name: string, path: string, args: string[], o: { cwd?: string; env: NodeJS.ProcessEnv }): void;
  /** Everything they printed, or only `name`'s lines. */
  logs(name?: string): string;
  stop(): Promise<void>;
}

export function daemons(): Daemons {
  const children: ChildProcess[] = [];
  let log = '';
  const killOnExit = () => children.forEach((c) => c.kill('SIGKILL'));
  process.once('exit', killOnExit);
  return {
    start(name, path, args, o) {
      const child = spawn(path, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
      // Whole lines only, each with its process's name: a chunk that ends mid-line waits for the rest of it.
      const keeper = () => {
        let partial = '';
        return (c: Buffer) => {
          const lines = (partial + c.toString()).split('\n');
          partial = lines.pop()!;
          if (lines.length) log = `${log}${lines.map((l) => `${name}: ${l}\n`).join('')}`.slice(-200_000);
        };
      };
      child.stdout.on('data', keeper());
      child.stderr.on('data', keeper());
      const keep = keeper();
      // A daemon that dies at start says so in the log: the test's wait then shows why.
      child.once('exit', (code, signal) => keep(Buffer.from(`\nexited (${signal ?? `code ${code}`})\n`)));
      children.push(child);
    },
    logs: (name) =>
      name
        ? log
            .split('\n')
            .filter((l) => l.startsWith(`${name}: `))
            .join('\n')
        : log,
    async stop() {
      process.removeListener('exit', killOnExit);
      await Promise.all(
        children.map((c) =>
          c.exitCode !== null || c.signalCode !== null
            ? undefined
            : new Promise<void>((r) => {
                // SIGTERM, then SIGKILL after 10 s: a controller stuck in its shutdown must not hang the test run.
                const kill = setTimeout(() => c.kill('SIGKILL'), 10_000);
                c.once('exit', () => (clearTimeout(kill), r()));
                c.kill('SIGTERM');
              }),
        ),
      );
    },
  };
}
