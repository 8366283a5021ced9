// `--as` and `--reason` reach terminals, Slack and commit messages: the real CLI refuses control
// characters, bidirectional overrides and unbounded lengths with exit 2 and a message naming the flag,
// before it contacts Temporal (the address below has nothing listening).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { printable } from '../../runbook/names.js';
import { CLI, cliEnv } from '../helpers/tools.js';

const run = promisify(execFile);
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, '--address', '127.0.0.1:1', ...args], {
      env: cliEnv({ ...process.env, REARGUARD_ACTOR: '', ...env }),
    });
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('free text on the command line', () => {
  const lift = (reason: string, ...more: string[]) => [...more, 'freeze', 'lift', '--name', 'black-friday', '--reason', reason];

  for (const [what, reason] of [
    ['a newline (forges an audit or commit line)', 'ok\nApproved-by: ceo'],
    ['a terminal escape sequence', 'ok \u001b[2J\u001b[31mFAKE'],
    ['a right-to-left override', 'ok \u202e'],
    ['more than 500 characters', 'x'.repeat(501)],
  ] as const) {
    it(`--reason with ${what} is refused`, async () => {
      const r = await cli(lift(reason));
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--reason: expected printable text of at most 500 characters/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  for (const [what, actor] of [
    ['an escape sequence', 'alice\u001b[0m'],
    ['spaces', 'alice smith'],
    ['129 characters', 'a'.repeat(129)],
  ] as const) {
    it(`--as with ${what} is refused, and so is REARGUARD_ACTOR`, async () => {
      const flag = await cli(lift('ok', '--as', actor));
      assert.equal(flag.code, 2, flag.stderr);
      assert.match(flag.stderr, /--as: expected a user or system name/);
      const envVar = await cli(lift('ok'), { REARGUARD_ACTOR: actor });
      assert.equal(envVar.code, 2, envVar.stderr);
      assert.match(envVar.stderr, /REARGUARD_ACTOR: expected a user or system name/);
    });
  }

  it('accepts a plain name and reason (and then fails only on the unreachable server)', async () => {
    const r = await cli(lift('end of sale: unfreeze', '--as', 'rm-ann@example.com'));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot reach Temporal/);
  });

  it('printable() blanks control characters in text from machines (alert labels)', () => {
    assert.equal(printable('a\nb\u001b[31mc\u202e'), 'a b [31mc ');
  });
});

describe('numbers and names on the command line echo the bad value and the expected form', () => {
  for (const [args, message] of [
    [['rollback', 'list', '--limit', 'abc'], /^--limit: expected a whole number from 1 to 1000, got "abc"$/m],
    [['rollback', 'list', '--limit', '0'], /^--limit: expected a whole number from 1 to 1000, got "0"$/m],
    [['freeze', 'calendar', 'export', 'x.yaml', '--days', '1.5'], /^--days: expected a whole number from 1 to 3660, got "1.5"$/m],
    [['rollback', 'status', '--env', 'PROD', '--service', 'api'], /^--env: expected a lowercase DNS-1123 label .*, got "PROD"$/m],
  ] as const) {
    it(`${args.join(' ')}: exit 2, ${String(message)}`, async () => {
      const r = await cli([...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }
});

describe('usage mistakes', () => {
  it('a mistyped required option is reported as unknown (with a suggestion), not as the missing one', async () => {
    const r = await cli(['rollback', 'start', '--runbok', 'x.yaml', '--reason', 'r']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--runbok'/);
    assert.match(r.stderr, /Did you mean --runbook\?/);
    assert.doesNotMatch(r.stderr, /required option/);
    const missing = await cli(['rollback', 'start', '--reason', 'r']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /required option '--runbook <name\|file>' not specified/);
  });

  it('with --json every error is one JSON object on stderr: code, exit code, message', async () => {
    for (const [args, code, exitCode, message] of [
      [['rollback', 'list', '--limit', 'abc', '--json'], 'bad-input', 2, /--limit: expected a whole number/],
      [['rollback', 'start', '--runbok', 'x.yaml', '--json'], 'bad-input', 2, /unknown option '--runbok'/],
      [['rollback', 'start', '--json'], 'bad-input', 2, /required option '--runbook <name\|file>'/],
      [['--json', 'rollback', 'status', '--env', 'dev', '--service', 'api'], 'failed', 1, /cannot reach Temporal at 127\.0\.0\.1:1/],
    ] as const) {
      const r = await cli([...args]);
      assert.equal(r.code, exitCode, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      const e = (JSON.parse(lines[0]) as { error: { code: string; exitCode: number; message: string } }).error;
      assert.equal(e.code, code);
      assert.equal(e.exitCode, exitCode);
      assert.match(e.message, message);
    }
  });
});

describe('validate --json', () => {
  it('an invalid runbook or calendar is data on stdout (valid: false, every problem), exit 2, nothing on stderr', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const file = join(await mkdtemp(join(tmpdir(), 'rearguard-validate-')), 'bad.yaml');
    await writeFile(file, 'apiVersion: rearguard/v1\nkind: FreezeCalendar\nmetadata: {name: x}\nspec: {windows: [{name: A}]}\n');
    for (const args of [
      ['freeze', 'calendar', 'validate', file, '--json'],
      ['runbook', 'validate', file, '--json'],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, '', args.join(' '));
      const out = JSON.parse(r.stdout) as { file: string; valid: boolean; problems: string[] };
      assert.equal(out.valid, false);
      assert.equal(out.file, file);
      assert.ok(out.problems.length > 0 && out.problems.every((p) => /^[\w.[\]]+: /.test(p)), out.problems.join('\n'));
    }
  });
});
