// `rearguard completion bash|zsh|fish`: each script is loaded in the shell it is for (bash, and zsh and fish from
// Debian's packages, `scripts/provision.sh shells`) and asked for completions the way the shell asks them: bash and
// zsh call the function with COMP_WORDS (zsh through bashcompinit, which runs it in sh emulation and leaves the
// filtering by the typed prefix to its own completion system), fish answers `complete -C "<line>"`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { rearguard } from '../helpers/processes.js';

const run = promisify(execFile);
let dir: string;
const scripts: Record<string, string> = {};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rearguard-completion-'));
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = await rearguard(['completion', shell], {});
    assert.equal(r.code, 0, r.stderr);
    scripts[shell] = join(dir, `rearguard.${shell}`);
    await writeFile(scripts[shell], r.stdout);
  }
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** What the bash (or zsh) function offers for the words of a line, the last one being completed. */
async function offered(shell: 'bash' | 'zsh', words: string[]): Promise<string[]> {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const call = `COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _rearguard; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const script =
    shell === 'bash'
      ? `source ${scripts.bash}; ${call}`
      : `autoload -U +X compinit && compinit -u -d ${dir}/zcompdump; source ${scripts.zsh}; t() { emulate -L sh; setopt kshglob noshglob braceexpand; ${call}; }; t`;
  const { stdout } = await run(shell, shell === 'zsh' ? ['-f', '-c', script] : ['-c', script]);
  return stdout.split('\n').filter(Boolean);
}

describe('rearguard completion', () => {
  it('bash: commands, subcommands, flags of the command on the line, fixed argument values; nothing after a flag that takes a value', async () => {
    assert.deepEqual(await offered('bash', ['rearguard', 'roll']), ['rollback']);
    assert.deepEqual(await offered('bash', ['rearguard', 'rollback', 'st']), ['start', 'status']);
    assert.deepEqual(await offered('bash', ['rearguard', 'freeze', 'calendar', 'ap']), ['apply']);
    assert.deepEqual(await offered('bash', ['rearguard', 'rollback', 'start', '--ru']), ['--runbook']);
    assert.deepEqual(await offered('bash', ['rearguard', 'rollback', 'start', '--reason', 'rollback', '--wa']), ['--wait'], 'a value is not a command');
    assert.deepEqual(await offered('bash', ['rearguard', 'upgrade', '1.2.0', '--dr']), ['--drain-timeout']);
    assert.deepEqual(await offered('bash', ['rearguard', 'rollback', 'start', '--runbook', '']), [], 'a file name: bash falls back to files');
    const shells = await offered('bash', ['rearguard', 'completion', '']);
    assert.deepEqual(shells.slice(0, 3), ['bash', 'zsh', 'fish']);
    assert.ok(!(await offered('bash', ['rearguard', 'completion', 'bash', ''])).includes('zsh'), 'the argument is given');
    assert.deepEqual(await offered('bash', ['rearguard', '--ver']), ['--version']);
    assert.deepEqual(await offered('bash', ['rearguard', 'rollback', '--ver']), [], '--version is the program’s only');
  });

  it('zsh: the same candidates through bashcompinit (zsh filters them by what was typed)', async () => {
    const { stdout } = await run('zsh', ['-n', scripts.zsh]);
    assert.equal(stdout, '');
    const top = await offered('zsh', ['rearguard', 'roll']);
    assert.ok(top.includes('rollback') && top.includes('freeze') && top.includes('completion'), top.join(' '));
    const sub = await offered('zsh', ['rearguard', 'rollback', 'st']);
    assert.ok(sub.includes('start') && sub.includes('status') && !sub.includes('freeze'), sub.join(' '));
    const flags = await offered('zsh', ['rearguard', 'rollback', 'start', '--ru']);
    assert.ok(flags.includes('--runbook') && flags.includes('--wait') && !flags.includes('start'), flags.join(' '));
  });

  it('fish: complete -C answers commands with their descriptions, flags, fixed values', async () => {
    const complete = async (line: string) =>
      (await run('fish', ['-c', `source ${scripts.fish}; complete -C ${JSON.stringify(line)}`])).stdout.split('\n').filter(Boolean);
    assert.deepEqual(await complete('rearguard roll'), ['rollback\tStart, follow, approve and cancel rollbacks']);
    assert.deepEqual(
      (await complete('rearguard rollback st')).map((l) => l.split('\t')[0]),
      ['start', 'status'],
    );
    assert.deepEqual(
      (await complete('rearguard rollback start --ru')).map((l) => l.split('\t')[0]),
      ['--runbook'],
    );
    assert.deepEqual(await complete('rearguard completion '), ['bash', 'fish', 'zsh']);
    assert.deepEqual(
      (await complete('rearguard freeze exception ')).map((l) => l.split('\t')[0]).filter((w) => !w.startsWith('-')),
      ['approve', 'reject', 'request'],
    );
  });

  it('refuses another shell, naming the argument', async () => {
    const r = await rearguard(['completion', 'powershell'], {});
    assert.equal(r.code, 2);
    assert.match(r.stderr, /<shell>: expected bash, zsh or fish, got "powershell"/);
  });
});
