// Plays the Dockerfile without a Docker engine (there is none here, nor a registry for its base image): each
// stage's WORKDIR, COPY, ENV, USER and CMD, read with dockerfile-ast, are applied to a directory per stage. RUN
// lines must be among the few this knows how to play (npm ci, npm run build, the audit volume's mkdir and chown),
// so a change to the Dockerfile fails here instead of going untested. The runtime stage then runs under bubblewrap
// as the image's user, with a read-only root and a tmpfs on /tmp, as `docker run --read-only --tmpfs /tmp` or the
// Helm chart's readOnlyRootFilesystem would run it. What this cannot show: the base image's own contents (the
// host's /usr, with the same Node major, stands in for them).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DockerfileParser, type JSONInstruction } from 'dockerfile-ast';
import { ROOT } from './tools.js';

/** A command run to its end: exit code and output, never a throw for a non-zero exit. */
const run = (file: string, args: string[], o: { cwd: string; env?: NodeJS.ProcessEnv }) =>
  new Promise<{ code: number; output: string }>((res) =>
    execFile(file, args, { cwd: o.cwd, env: o.env ?? process.env, timeout: 600_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      res({ code: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0, output: `${stdout}${stderr}` }),
    ),
  );

/** The node images' `node` user. */
const USERS: Record<string, { uid: number; gid: number }> = { node: { uid: 1000, gid: 1000 } };

export interface Stage {
  name: string | undefined;
  /** Where the stage's WORKDIR lives on this machine. */
  dir: string;
  workdir: string;
  env: Record<string, string>;
  user: { uid: number; gid: number } | undefined;
  cmd: string[];
  /** Container paths the stage creates as volumes for its user (RUN mkdir -p X && chown ...). */
  volumes: string[];
  /** What each RUN line did, for the test's log. */
  ran: string[];
}

type Runner = (stage: Stage, build: { npmCi: (args: string[]) => Promise<void> }) => Promise<void>;

/** The RUN lines this knows, by their exact text. The build stage's `npm ci` links this checkout's node_modules
 * (installed by the same lockfile); the runtime stage's `npm ci --omit=dev` is real, so a dependency the compiled
 * app needs at run time but the lockfile lists as a devDependency makes the run fail. */
const RUNS: Record<string, Runner> = {
  'npm ci --no-audit --no-fund': async (stage) => symlink(join(ROOT, 'node_modules'), join(stage.dir, 'node_modules')),
  'npm ci --omit=dev --no-audit --no-fund': async (_stage, b) => b.npmCi(['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline']),
  'npm run build': async (stage) => {
    const r = await run('npm', ['run', 'build'], { cwd: stage.dir });
    if (r.code !== 0) throw new Error(`npm run build failed in the build stage:\n${r.output}`);
  },
  'mkdir -p /var/lib/rearguard && chown node:node /var/lib/rearguard': async (stage) => {
    stage.volumes.push('/var/lib/rearguard');
  },
};

/** Builds every stage of `dockerfile` under a new directory; returns the stages, the last one being the image. */
export async function playDockerfile(dockerfile = join(ROOT, 'Dockerfile')): Promise<Stage[]> {
  const doc = DockerfileParser.parse(await readFile(dockerfile, 'utf8'));
  const base = await mkdtemp(join(tmpdir(), 'rearguard-image-'));
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  const hostPath = (s: Stage, containerPath: string) => {
    const abs = resolve(s.workdir, containerPath);
    if (abs !== s.workdir && !abs.startsWith(`${s.workdir}/`))
      throw new Error(`${containerPath}: outside the stage's WORKDIR ${s.workdir}, which is all this plays`);
    return join(s.dir, abs.slice(s.workdir.length));
  };
  for (const i of doc.getInstructions()) {
    const keyword = i.getKeyword();
    const args = i.getArguments().map((a) => a.getValue());
    const line = `Dockerfile line ${i.getRange().start.line + 1}`;
    if (keyword === 'FROM') {
      const name = args[1]?.toUpperCase() === 'AS' ? args[2] : undefined;
      stage = { name, dir: join(base, `stage-${stages.length}`), workdir: '/', env: {}, user: undefined, cmd: [], volumes: [], ran: [] };
      await mkdir(stage.dir, { recursive: true });
      stages.push(stage);
      continue;
    }
    if (!stage) throw new Error(`${line}: ${keyword} before FROM`);
    const s = stage;
    switch (keyword) {
      case 'WORKDIR':
        if (s.workdir !== '/') throw new Error(`${line}: a second WORKDIR is not played`);
        s.workdir = args[0];
        break;
      case 'ENV':
        for (const p of doc
          .getENVs()
          .find((e) => e.getRange().start.line === i.getRange().start.line)!
          .getProperties())
          s.env[p.getName()] = p.getValue() ?? '';
        break;
      case 'COPY': {
        const copy = doc.getCOPYs().find((c) => c.getRange().start.line === i.getRange().start.line)!;
        if (copy.getFlags().some((f) => f.getName() !== 'from')) throw new Error(`${line}: COPY flags other than --from are not played`);
        const from = copy.getFromFlag()?.getValue() ?? undefined;
        const dest = args.pop()!;
        const source = from ? stages.find((x) => x.name === from) : undefined;
        if (from && !source) throw new Error(`${line}: no stage ${from}`);
        for (const src of args) {
          const origin = source ? hostPath(source, src) : join(ROOT, src);
          const target = dest.endsWith('/') || args.length > 1 ? join(hostPath(s, dest), src.split('/').pop()!) : hostPath(s, dest);
          await cp(origin, target, { recursive: true });
        }
        break;
      }
      case 'RUN': {
        const text = i.getArgumentsContent() ?? '';
        const runner = RUNS[text];
        if (!runner) throw new Error(`${line}: RUN ${text}: not a step this test knows how to play; teach test/helpers/image.ts`);
        await runner(s, {
          npmCi: async (npmArgs) => {
            const r = await run('npm', npmArgs, { cwd: s.dir, env: { ...process.env, ...s.env } });
            if (r.code !== 0) throw new Error(`${line}: npm ${npmArgs.join(' ')} failed:\n${r.output}`);
          },
        });
        s.ran.push(text);
        break;
      }
      case 'USER':
        s.user = USERS[args[0]];
        if (!s.user) throw new Error(`${line}: USER ${args[0]}: unknown user`);
        break;
      case 'CMD':
        s.cmd = (i as JSONInstruction).getJSONStrings().map((a) => a.getJSONValue());
        break;
      case 'EXPOSE':
        break;
      default:
        throw new Error(`${line}: ${keyword} is not played by test/helpers/image.ts`);
    }
  }
  return stages;
}

export interface Container {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs `argv` (default: the image's CMD) in the image's stage as its USER, the root filesystem read-only, /tmp a
 * tmpfs, each volume bound to a directory of `volumes` (container path -> host directory), binds given read-only
 * (`inputs`), the network shared with the host (the dev server and receivers listen on loopback).
 */
export function runContainer(
  image: Stage,
  o: { env: Record<string, string>; volumes: Record<string, string>; inputs?: Record<string, string>; argv?: string[] },
): Container {
  const user = image.user ?? { uid: 0, gid: 0 };
  const bwrap = [
    '--unshare-user',
    '--uid',
    String(user.uid),
    '--gid',
    String(user.gid),
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--die-with-parent',
    '--new-session',
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--symlink',
    'usr/sbin',
    '/sbin',
    '--ro-bind',
    '/etc',
    '/etc',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    '--ro-bind',
    image.dir,
    image.workdir,
    ...Object.entries(o.inputs ?? {}).flatMap(([inside, host]) => ['--ro-bind', host, inside]),
    ...image.volumes.flatMap((v) => {
      if (!o.volumes[v]) throw new Error(`volume ${v}: give it a host directory`);
      return ['--bind', o.volumes[v], v];
    }),
    '--remount-ro',
    '/',
    '--chdir',
    image.workdir,
    '--clearenv',
    ...Object.entries({ PATH: '/usr/local/bin:/usr/bin:/bin', ...image.env, ...o.env }).flatMap(([k, v]) => ['--setenv', k, v]),
    '--',
    ...(o.argv ?? image.cmd),
  ];
  const child = spawn('bwrap', bwrap, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code, signal) => res(code ?? (signal ? -1 : null))));
  return {
    child,
    output: () => output,
    exited,
    // bwrap does not forward signals: like a container runtime, deliver them to the command itself (the innermost
    // process under bwrap and its pid-namespace init); bwrap then exits with the command's exit code.
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      // The first descendant that is not bwrap itself: the command (its own children, such as git, come after it).
      let command: number | undefined;
      for (const pid of await descendants(child.pid!)) {
        const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
        if (comm && comm !== 'bwrap') {
          command = pid;
          break;
        }
      }
      if (signal === 'SIGKILL' || command === undefined) child.kill(signal);
      else process.kill(command, signal);
      return exited;
    },
  };
}

/** A process's descendants, depth first, from /proc (each task's children file). */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  for (const c of children.split(' ').filter(Boolean).map(Number)) out.push(c, ...(await descendants(c)));
  return out;
}
