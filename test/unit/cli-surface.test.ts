// The whole CLI surface as a user meets it, command by command (the list comes from the program itself, so
// a new command is covered the day it is added): every command's help (a description for it and each of its
// options, defaults shown once, required options marked, the README names it and its options); every command
// run as a real process with --help, with an unknown option and --json (exit 2, one JSON object on stderr), and
// with a value it must refuse (exit 2, the value echoed, no stack trace); --json outputs that need no server
// parsed as JSON. Commands that would contact Temporal point at an address where nothing listens: they must
// refuse bad input before connecting. Closing the pipe early: cli-pipe.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Help, type Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { buildProgram } from '../../client/cli.js';
import { requestedFormat } from '../../client/output.js';
import { CLI, ROOT, cliEnv } from '../helpers/tools.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real CLI, in its own process, with Temporal "reachable" at a port where nothing listens. */
function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, '--address', '127.0.0.1:1', ...args],
      { env: cliEnv({ ...process.env, REARGUARD_ACTOR: 'tester', REARGUARD_DEBUG: '' }), timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

/** A freeze.started audit event of freeze `bf`, the i-th second of 2026-11-27 (UTC), as the audit file holds it. */
const auditEvent = (i: number, extra: { reason?: string; details?: Record<string, unknown> } = {}) => ({
  id: `freeze:bf/run/${i}`,
  time: new Date(Date.UTC(2026, 10, 27, 0, 0, i)).toISOString(),
  actor: 'rm-ann',
  action: 'freeze.started',
  reason: extra.reason ?? 'black friday',
  workflowId: 'freeze:bf',
  target: { environment: 'prod', service: '*' },
  details: extra.details ?? {},
});

/** Runs many CLI processes, a few at a time (each one compiles the sources through tsx: CPU-bound). */
async function pool<T, R>(items: T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await work(items[i]);
      }
    }),
  );
  return out;
}

const STACK = /\n\s+at .+:\d+:\d+/;

/** Every command that runs something (no subcommands), with its path from the root. */
function leaves(): { path: string[]; cmd: Command }[] {
  const out: { path: string[]; cmd: Command }[] = [];
  const walk = (c: Command, path: string[]) => {
    if (c.commands.length === 0 && path.length > 0) out.push({ path, cmd: c });
    // A group with its own action (e.g. `audit` reads, `audit verify` checks) is a command too.
    else if (path.length > 0 && (c as unknown as { _actionHandler?: unknown })._actionHandler) out.push({ path, cmd: c });
    c.commands.forEach((s) => walk(s, [...path, s.name()]));
  };
  walk(buildProgram({}).program, []);
  return out;
}

const COMMANDS = leaves();
const name = (path: string[]) => path.join(' ');

/** For each command, arguments it must refuse, and the value its message must echo. Every command has one. */
const BAD_INPUT: Record<string, { args: string[]; echo: string }> = {
  'runbook validate': { args: ['/nonexistent/rb.yaml'], echo: '/nonexistent/rb.yaml' },
  'rollback start': { args: ['--runbook', 'runbooks/demo-local.yaml', '--reason', 'x', '--source', 'pager'], echo: '"pager"' },
  'rollback plan': { args: ['--runbook', '/nonexistent/x.yaml'], echo: '/nonexistent/x.yaml' },
  'rollback status': { args: ['--env', 'PROD', '--service', 'api'], echo: '"PROD"' },
  'rollback approve': { args: ['--env', 'prod', '--service', 'Api', '--reason', 'ok'], echo: '"Api"' },
  'rollback reject': { args: ['--id', 'nope', '--reason', 'x'], echo: '"nope"' },
  'rollback approve-plan': { args: ['--env', 'prod', '--service', 'api', '--reason', 'ok', '--step', 'Bad Step!'], echo: '"Bad Step!"' },
  'rollback cancel': { args: ['--env', 'prod', '--service', 'api_x', '--reason', 'x'], echo: '"api_x"' },
  'rollback list': { args: ['--limit', 'abc'], echo: '"abc"' },
  'freeze start': { args: ['--name', 'BF', '--env', 'prod', '--reason', 'x', '--duration', '1h'], echo: '"BF"' },
  'freeze extend': { args: ['--name', 'black-friday', '--by', '3x', '--reason', 'x'], echo: '"3x"' },
  'freeze lift': { args: ['--name', 'bad name!', '--reason', 'x'], echo: '"bad name!"' },
  'freeze status': { args: ['--name', 'Bad'], echo: '"Bad"' },
  'freeze list': { args: ['surplus'], echo: '"surplus"' },
  'freeze check': { args: ['--env', 'PROD', '--service', 'api'], echo: '"PROD"' },
  'freeze exception request': { args: ['--name', 'bf', '--change', 'has space', '--reason', 'x'], echo: '"has space"' },
  'freeze exception approve': { args: ['--name', 'bf', '--change', 'PR-1', '--reason', 'two\nlines'], echo: '"two\\nlines"' },
  'freeze exception reject': { args: ['--name', 'BF', '--change', 'PR-1', '--reason', 'x'], echo: '"BF"' },
  'freeze calendar validate': { args: ['/nonexistent/c.yaml'], echo: '/nonexistent/c.yaml' },
  'freeze calendar apply': { args: ['/nonexistent/c.yaml'], echo: '/nonexistent/c.yaml' },
  'freeze calendar export': { args: ['/nonexistent/c.yaml', '--days', '0'], echo: '"0"' },
  'unfreeze start': { args: ['--freeze', 'bf', '--ladder', 'dev,PROD', '--soak', '30m', '--reason', 'x'], echo: '"PROD"' },
  'unfreeze status': { args: ['--freeze', 'B F'], echo: '"B F"' },
  'unfreeze advance': { args: ['--freeze', 'bf', '--reason', 'x\u0007'], echo: '"x\\u0007"' },
  'unfreeze abort': { args: ['--freeze', 'freeze:', '--reason', 'x'], echo: '"freeze:"' },
  'unfreeze approve': { args: ['--freeze', 'bf!', '--reason', 'x'], echo: '"bf!"' },
  'guard start': { args: ['--runbook', '/nonexistent/g.yaml'], echo: '/nonexistent/g.yaml' },
  'catalog list': { args: ['surplus'], echo: '"surplus"' },
  upgrade: { args: ['Bad Build!'], echo: '"Bad Build!"' },
  completion: { args: ['powershell'], echo: '"powershell"' },
  doctor: { args: ['--runbook', '/nonexistent/d.yaml'], echo: '/nonexistent/d.yaml' },
  'guard pause': { args: ['--env', 'PROD', '--service', 'x', '--reason', 'x'], echo: '"PROD"' },
  'guard resume': { args: ['--id', 'nope', '--reason', 'x'], echo: '"nope"' },
  'guard status': { args: ['--id', 'nope'], echo: '"nope"' },
  audit: { args: ['--since', 'yesterdayish'], echo: '"yesterdayish"' },
  'audit verify': { args: ['/nonexistent/a.jsonl'], echo: '/nonexistent/a.jsonl' },
  'drill run': { args: ['--runbook', 'runbooks/demo-local.yaml', '--force'], echo: '--reason' },
  'drill status': { args: ['--id', 'nope'], echo: '"nope"' },
  'drill schedule': { args: ['--runbook', '/nonexistent/r.yaml', '--cron', '0 10 * * TUE'], echo: '/nonexistent/r.yaml' },
  serve: { args: ['--port', '99999'], echo: '"99999"' },
};

/** Options added to a command after its case above: each refuses a bad value too (exit 2, echoed, before Temporal). */
const MORE_BAD_INPUT: { path: string[]; args: string[]; echo: string }[] = [
  { path: ['serve'], args: ['--oidc-issuer', 'ftp://login.example.com', '--oidc-audience', 'rearguard'], echo: '"ftp://login.example.com"' },
  { path: ['serve'], args: ['--oidc-issuer', 'https://login.example.com', '--oidc-actor-claim', 'no spaces'], echo: '"no spaces"' },
  { path: ['serve'], args: ['--delegate', 'alice'], echo: '"alice"' },
  { path: ['audit'], args: ['--token', 'x'], echo: '--token: only for reading through rearguard serve' },
];

describe('the CLI surface: options added later', () => {
  it('refuse a bad value: exit 2, the value echoed, no stack trace, before contacting Temporal', async () => {
    const runs = await pool(MORE_BAD_INPUT, 2, (c) => cli([...c.path, ...c.args]));
    const problems = MORE_BAD_INPUT.flatMap((c, i) => {
      const r = runs[i];
      const out: string[] = [];
      if (r.code !== 2) out.push(`exit ${r.code}: ${r.stderr}`);
      if (!r.stderr.includes(c.echo)) out.push(`does not echo ${c.echo}: ${r.stderr}`);
      if (STACK.test(r.stderr) || /cannot reach Temporal/.test(r.stderr)) out.push(`stack trace or Temporal first: ${r.stderr}`);
      return out.map((p) => `${name(c.path)} ${c.args.join(' ')}: ${p}`);
    });
    assert.deepEqual(problems, []);
  });
});

describe('the CLI surface', () => {
  it('every command is in the bad-input table (a new command needs a case)', () => {
    assert.deepEqual(
      COMMANDS.map((c) => name(c.path)).filter((n) => !BAD_INPUT[n]),
      [],
    );
    assert.deepEqual(
      Object.keys(BAD_INPUT).filter((n) => !COMMANDS.some((c) => name(c.path) === n)),
      [],
      'no stale cases',
    );
  });

  it('help: every command and option is described, defaults are shown once, required options are marked', () => {
    const help = new Help();
    const problems: string[] = [];
    for (const { path, cmd } of COMMANDS) {
      if (!cmd.description()) problems.push(`${name(path)}: no description`);
      for (const a of cmd.registeredArguments) if (!a.description) problems.push(`${name(path)} <${a.name()}>: no description`);
      for (const o of cmd.options) {
        if (!o.description) problems.push(`${name(path)} ${o.long}: no description`);
        const text = help.optionDescription(o);
        if ((text.match(/default/gi) ?? []).length > 1) problems.push(`${name(path)} ${o.long}: default shown twice: ${text}`);
      }
      const shown = cmd.helpInformation();
      for (const o of cmd.options.filter((x) => x.mandatory))
        if (!new RegExp(`${o.long}[^\\n]*\\n?[^\\n]*\\(required\\)`).test(shown)) problems.push(`${name(path)} ${o.long}: not marked (required)`);
    }
    assert.deepEqual(problems, []);
  });

  it('the README names every command and each of its options', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const problems: string[] = [];
    for (const { path, cmd } of COMMANDS) {
      // Rows list related commands together ("... / exception approve ...", "rollback approve\|reject").
      const [group, last] = path.length > 1 ? path.slice(-2) : ['rearguard', path[0]];
      if (!new RegExp(`${group} ([-a-z]+\\\\\\|)*${last}\\b`).test(readme)) problems.push(`${name(path)}: not in the README`);
      for (const o of cmd.options) if (o.long && !readme.includes(o.long)) problems.push(`${name(path)} ${o.long}: not in the README`);
    }
    assert.deepEqual(problems, []);
  });

  describe('as real processes', () => {
    let help: Run[];
    let unknown: Run[];
    let bad: Run[];
    before(async () => {
      help = await pool(COMMANDS, 4, (c) => cli([...c.path, '--help']));
      unknown = await pool(COMMANDS, 4, (c) => cli([...c.path, '--no-such-flag', 'x', '--json']));
      bad = await pool(COMMANDS, 4, (c) => cli([...c.path, ...BAD_INPUT[name(c.path)].args]));
    });

    it('--help: exit 0, the usage line of that command, the global flags, nothing on stderr', () => {
      const problems = COMMANDS.flatMap(({ path }, i) => {
        const r = help[i];
        const out: string[] = [];
        if (r.code !== 0) out.push(`exit ${r.code}`);
        if (!r.stdout.startsWith(`Usage: rearguard ${name(path)} `)) out.push(`usage line: ${r.stdout.split('\n')[0]}`);
        if (!r.stdout.includes('Global Options:') || !r.stdout.includes('--json')) out.push('global options missing');
        if (r.stderr) out.push(`stderr: ${r.stderr}`);
        return out.map((p) => `${name(path)}: ${p}`);
      });
      assert.deepEqual(problems, []);
    });

    it('an unknown option with --json: exit 2, nothing on stdout, one JSON object on stderr naming the option', () => {
      const problems = COMMANDS.flatMap(({ path }, i) => {
        const r = unknown[i];
        const out: string[] = [];
        if (r.code !== 2) out.push(`exit ${r.code}`);
        if (r.stdout) out.push(`stdout: ${r.stdout}`);
        try {
          const lines = r.stderr.trim().split('\n');
          if (lines.length !== 1) out.push(`${lines.length} lines on stderr`);
          const e = (JSON.parse(lines[0]) as { error: { code: string; exitCode: number; message: string } }).error;
          if (e.code !== 'bad-input' || e.exitCode !== 2 || !/unknown option '--no-such-flag'/.test(e.message)) out.push(`error: ${JSON.stringify(e)}`);
        } catch {
          out.push(`stderr is not JSON: ${r.stderr}`);
        }
        return out.map((p) => `${name(path)}: ${p}`);
      });
      assert.deepEqual(problems, []);
    });

    it('a refused value: exit 2, the value echoed, no stack trace, before contacting Temporal', () => {
      const problems = COMMANDS.flatMap(({ path }, i) => {
        const r = bad[i];
        const { echo } = BAD_INPUT[name(path)];
        const out: string[] = [];
        if (r.code !== 2) out.push(`exit ${r.code}: ${r.stderr}`);
        if (!r.stderr.includes(echo)) out.push(`does not echo ${echo}: ${r.stderr}`);
        if (STACK.test(r.stderr)) out.push(`stack trace: ${r.stderr}`);
        if (/cannot reach Temporal/.test(r.stderr)) out.push('contacted Temporal first');
        return out.map((p) => `${name(path)}: ${p}`);
      });
      assert.deepEqual(problems, []);
    });
  });

  describe('--json data without a server', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'rearguard-surface-'));
    });
    const json = (r: Run): unknown => {
      assert.equal(r.stdout.trim().split('\n').length, 1, `one JSON document: ${r.stdout}`);
      return JSON.parse(r.stdout);
    };

    it('runbook validate and freeze calendar validate: valid and invalid files are data on stdout', async () => {
      const good = await cli(['runbook', 'validate', 'runbooks/demo-local.yaml', '--json']);
      assert.equal(good.code, 0, good.stderr);
      assert.equal((json(good) as { valid: boolean }).valid, true);
      const file = join(dir, 'cal.yaml');
      await writeFile(file, 'apiVersion: rearguard/v1\nkind: FreezeCalendar\nmetadata: { name: Bad Name }\nspec: { timezone: Mars/Base, windows: [] }\n');
      const invalid = await cli(['freeze', 'calendar', 'validate', file, '--json']);
      assert.equal(invalid.code, 2);
      const v = json(invalid) as { valid: boolean; problems: string[] };
      assert.equal(v.valid, false);
      assert.ok(v.problems.some((p) => p.startsWith('metadata.name:')) && v.problems.some((p) => p.startsWith('spec.timezone:')), v.problems.join('\n'));
    });

    it('audit --json: one JSON document per event; a server command that cannot connect: one JSON error, exit 1', async () => {
      const file = join(dir, 'audit.jsonl');
      const event = (i: number) => auditEvent(i);
      await writeFile(file, `${JSON.stringify(event(1))}\n${JSON.stringify(event(2))}\n`);
      const r = await cli(['audit', '--file', file, '--json', '--since', '2026-11-01T00:00Z']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as { id: string }).id),
        ['freeze:bf/run/1', 'freeze:bf/run/2'],
      );
      const down = await cli(['freeze', 'list', '--json']);
      assert.equal(down.code, 1);
      assert.equal(down.stdout, '');
      const e = (JSON.parse(down.stderr) as { error: { code: string; message: string } }).error;
      assert.equal(e.code, 'failed');
      assert.match(e.message, /cannot reach Temporal at 127\.0\.0\.1:1/);
    });
  });

  describe('-o yaml: the same documents as --json, as a YAML stream', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'rearguard-surface-yaml-'));
    });
    const docs = (text: string): unknown[] =>
      parseAllDocuments(text).map((d) => {
        assert.deepEqual(d.errors, [], text);
        return d.toJS() as unknown;
      });
    const jsonLines = (text: string): unknown[] =>
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown);

    it('reads -o and --json from anywhere before --', () => {
      assert.equal(requestedFormat(['rollback', 'list']), 'text');
      assert.equal(requestedFormat(['rollback', 'list', '--json']), 'json');
      assert.equal(requestedFormat(['-o', 'yaml', 'rollback', 'list']), 'yaml');
      assert.equal(requestedFormat(['rollback', 'list', '--output=yaml']), 'yaml');
      assert.equal(requestedFormat(['rollback', 'list', '-oyaml']), 'yaml');
      assert.equal(requestedFormat(['rollback', 'list', '-o', 'xml']), 'text', 'commander refuses the value');
      assert.equal(requestedFormat(['runbook', 'validate', '--', '-o', 'yaml']), 'text');
    });

    it('runbook validate, audit and calendar export print the --json documents as YAML', async () => {
      const asJson = await cli(['runbook', 'validate', 'runbooks/demo-local.yaml', '--json']);
      const asYaml = await cli(['runbook', 'validate', 'runbooks/demo-local.yaml', '-o', 'yaml']);
      assert.equal(asYaml.code, 0, asYaml.stderr);
      assert.match(asYaml.stdout, /^---\n/);
      assert.deepEqual(docs(asYaml.stdout), jsonLines(asJson.stdout));

      const file = join(dir, 'audit.jsonl');
      // Values YAML would read as other types unless quoted: they must come back as the same strings.
      const event = (i: number) =>
        auditEvent(i, {
          reason: 'yes: no # 2026-11-27 null',
          details: { count: 3, on: true, version: '1.10', answer: 'yes', clock: '1:20', notes: 'line\n\n' },
        });
      await writeFile(file, `${JSON.stringify(event(1))}\n${JSON.stringify(event(2))}\n`);
      const audit = await cli(['audit', '--file', file, '--output=yaml', '--since', '2026-11-01T00:00Z']);
      assert.equal(audit.code, 0, audit.stderr);
      const events = docs(audit.stdout) as { id: string; reason: string; details: unknown }[];
      assert.deepEqual(
        events.map((e) => e.id),
        ['freeze:bf/run/1', 'freeze:bf/run/2'],
      );
      assert.equal(events[0].reason, 'yes: no # 2026-11-27 null');
      assert.deepEqual(events[0].details, { count: 3, on: true, version: '1.10', answer: 'yes', clock: '1:20', notes: 'line\n\n' });
      // YAML 1.1 readers (PyYAML, go-yaml v2) see strings too: timestamps and yes/1:20 are quoted.
      assert.match(audit.stdout, /time: "2026-11-27T00:00:01\.000Z"/);
      assert.match(audit.stdout, /answer: "yes"/);
      assert.match(audit.stdout, /clock: "1:20"/);

      const calendar = join(dir, 'cal.yaml');
      await writeFile(
        calendar,
        'apiVersion: rearguard/v1\nkind: FreezeCalendar\nmetadata: { name: weekly }\nspec:\n  timezone: Europe/Paris\n  windows:\n    - { name: fri, schedule: "0 16 * * 5", duration: 2h, scope: { environments: [prod] }, reason: weekend }\n',
      );
      const out = join(dir, 'occurrences.yaml');
      const exported = await cli(['freeze', 'calendar', 'export', calendar, '-o', 'yaml', '--out-file', out, '--from', '2026-12-01', '--days', '14']);
      assert.equal(exported.code, 0, exported.stderr);
      assert.deepEqual(docs(exported.stdout), [{ file: out, format: 'yaml', occurrences: 2 }]);
      const [written] = docs(await readFile(out, 'utf8')) as { occurrences: { window: string; localStart: string }[] }[];
      assert.deepEqual(
        written.occurrences.map((o) => o.localStart),
        ['2026-12-04T16:00:00.000+01:00', '2026-12-11T16:00:00.000+01:00'],
      );
    });

    it('errors are one YAML document on stderr; -o and --json must agree', async () => {
      const down = await cli(['freeze', 'list', '-o', 'yaml']);
      assert.equal(down.code, 1);
      assert.equal(down.stdout, '');
      const [e] = docs(down.stderr) as { error: { code: string; message: string } }[];
      assert.equal(e.error.code, 'failed');
      assert.match(e.error.message, /cannot reach Temporal at 127\.0\.0\.1:1/);

      const unknown = await cli(['rollback', 'list', '--no-such-flag', '-o', 'yaml']);
      assert.equal(unknown.code, 2);
      assert.match((docs(unknown.stderr)[0] as { error: { message: string } }).error.message, /--no-such-flag/);

      const both = await cli(['runbook', 'validate', 'runbooks/demo-local.yaml', '--json', '-o', 'yaml']);
      assert.equal(both.code, 2);
      assert.match((docs(both.stderr)[0] as { error: { message: string } }).error.message, /--json: asks for JSON, but -o asks for yaml/);

      const bad = await cli(['rollback', 'list', '-o', 'xml']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /'xml' is invalid\. Allowed choices are text, json, yaml/);
    });
  });
});
