// Property-based fuzzing of validation: thousands of invalid runbooks and freeze calendars (mutations of
// valid ones: wrong types, bad and huge durations, duplicate names, missing fields, unknown keys,
// out-of-range numbers, hostile strings, hostile YAML) must each be refused the way `rearguard runbook
// validate` and `freeze calendar validate` refuse them: every problem one `path: message` line, nothing
// thrown, no stack trace; exit code 2 through the CLI (in-process for a sample, spawned for a few).
// Seeded: REARGUARD_FUZZ_SEED replays a run (the seed is printed).
// Over 300 lines on purpose: one mutation per kind of invalid input, each next to the refusal it must get.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { main } from '../../client/main.js';
import { CLI, cliEnv } from '../helpers/tools.js';
import { parseCalendar } from '../../runbook/calendar.js';
import { DURATION_LIMITS, checkDuration, type DurationRange } from '../../runbook/duration.js';
import { parseRunbook } from '../../runbook/load.js';
import { DNS1123_SUBDOMAIN } from '../../runbook/names.js';
import {
  badDuration,
  fuzzSeed,
  hostileKey,
  hostileString,
  outOfRange,
  validCalendarDoc,
  validRunbookDoc,
  wrongValue,
  type CalendarDoc,
  type RunbookDoc,
} from '../helpers/arbitraries.js';

const L = DURATION_LIMITS;
const seed = fuzzSeed('validation fuzzing');
const NOW = Date.UTC(2026, 10, 20, 12, 0);

/** A problem line: a path (`spec.steps[1].name`, `spec.headers["a b"]`, `(root)`) or a YAML position, then the message. */
const PROBLEM =
  /^(\(root\)|yaml|line \d+, column \d+|[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+|\[\d+\]|\["(?:[^"\\\n]|\\.)*"\])*|\["(?:[^"\\\n]|\\.)*"\](\.[A-Za-z0-9_$-]+|\[\d+\]|\["(?:[^"\\\n]|\\.)*"\])*): \S.*$/;
const STACK = /\n\s+at |\bat .+:\d+:\d+\)?$|TypeError|RangeError|ReferenceError/m;

function assertProblems(problems: string[], context: () => string): void {
  assert.ok(problems.length > 0, `no problem reported for ${context()}`);
  for (const p of problems) {
    assert.ok(!p.includes('\n') && !p.includes('\r'), `a problem spans lines: ${JSON.stringify(p)} for ${context()}`);
    assert.match(p, PROBLEM, `not "path: message": ${JSON.stringify(p)} for ${context()}`);
    assert.doesNotMatch(p, STACK, `stack trace or internal error in ${JSON.stringify(p)}`);
  }
}

type Doc = Record<string, unknown>;
const obj = (v: unknown): Doc | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Doc) : undefined);
const arr = (v: unknown): Doc[] => (Array.isArray(v) ? (v as Doc[]) : []);
const setKey = (o: Doc, key: string, value: unknown) => Object.defineProperty(o, key, { value, enumerable: true, configurable: true, writable: true });
/** A value that is certainly not a valid duration for `range` (a valid one is swapped for one far too long). */
const notDuration = (v: unknown, range: DurationRange) => (typeof v === 'string' && checkDuration(v, range).ok ? '99999999999h' : v);
const notName = (v: unknown) => (typeof v === 'string' && DNS1123_SUBDOMAIN.test(v) && v.length < 64 ? `${v}_X` : v);

interface Mutation {
  /** What it does; each mutator also says whether the result is certainly invalid (strict). */
  kind: string;
  pick: number;
  value: unknown;
  key: string;
}
const mutation = fc.record({
  // Hostile YAML is rarer: its error path (positions, pretty messages) is ten times slower than the rest.
  kind: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('duration', 'unknown-key', 'missing', 'duplicate', 'range', 'hostile-name', 'wrong-type') },
    { weight: 1, arbitrary: fc.constant('yaml') },
  ),
  pick: fc.nat(),
  value: fc.oneof(badDuration, wrongValue, outOfRange, hostileString),
  key: hostileKey,
});

// --- runbooks -----------------------------------------------------------------------------------

function mutateRunbook(doc: RunbookDoc, m: Mutation): { text?: string; strict: boolean } {
  const spec = doc.spec;
  const steps = spec.steps;
  const verify = arr(spec.verify);
  const notify = arr(spec.notify);
  const choose = <T>(xs: T[]): T => xs[m.pick % xs.length];
  switch (m.kind) {
    case 'duration': {
      const fields: [Doc, string, DurationRange][] = [[spec, 'sla', L.timeout]];
      if (obj(spec.approval)) fields.push([spec.approval as Doc, 'timeout', L.timeout]);
      steps.forEach((s) => fields.push([s, 'timeout', L.timeout]));
      verify.forEach((c) => fields.push([c, 'timeout', L.timeout], ...(c.type === 'http' ? [[c, 'interval', L.poll] as [Doc, string, DurationRange]] : [])));
      if (spec.freezeAfter !== undefined) fields.push([spec, 'freezeAfter', L.freeze]);
      if (obj(spec.slo)) fields.push([spec.slo as Doc, 'interval', L.evaluation], [spec.slo as Doc, 'cooldown', L.hold]);
      const [o, key, range] = choose(fields);
      o[key] = notDuration(m.value, range);
      // A percentage is valid for `at`; everything badDuration makes is not.
      return { strict: true };
    }
    case 'unknown-key': {
      const targets: Doc[] = [doc as unknown as Doc, doc.metadata, spec, ...steps, ...verify, ...notify, ...arr(spec.escalation)];
      if (obj(spec.approval)) targets.push(spec.approval as Doc);
      if (obj(spec.slo)) targets.push(spec.slo as Doc);
      const target = choose(targets);
      if (Object.prototype.hasOwnProperty.call(target, m.key)) return { strict: false };
      setKey(target, m.key, m.value);
      return { strict: true };
    }
    case 'missing': {
      const required: [Doc, string | string[]][] = [
        [doc as unknown as Doc, 'apiVersion'],
        [doc as unknown as Doc, 'kind'],
        [doc as unknown as Doc, 'metadata'],
        [doc.metadata, 'name'],
        [spec, 'service'],
        [spec, 'environment'],
        [spec, 'sla'],
        [spec, 'steps'],
      ];
      for (const s of steps) {
        required.push([s, 'type']);
        const byType: Record<string, string | string[]> = {
          webhook: ['url', 'urlEnv'],
          kubernetes: 'deployment',
          blueGreen: 'selector',
          helm: 'release',
          gitops: 'revert',
          terraform: 'toRef',
        };
        required.push([s, byType[String(s.type)]]);
      }
      for (const c of verify)
        required.push([c, { http: 'url', prometheus: ['below', 'above'], kubernetesAvailable: 'namespace' }[String(c.type)] as string | string[]]);
      for (const n of notify) required.push([n, 'name']);
      for (const e of arr(spec.escalation)) required.push([e, 'notify']);
      const [o, keys] = choose(required);
      for (const k of [keys].flat()) delete o[k];
      return { strict: true };
    }
    case 'duplicate': {
      const variant = m.pick % 3;
      if (variant === 0) {
        // Two explicit names alike.
        const copy = { ...steps[0], name: 'same-name' };
        steps[0].name = 'same-name';
        steps.push(copy);
      } else if (variant === 1) {
        // An explicit name equal to the name another step gets by default (`webhook-2` at position 1).
        steps.splice(1, 0, { ...steps[0] });
        delete steps[1].name;
        steps[0].name = `${String(steps[1].type).toLowerCase()}-2`;
      } else {
        const first = { name: 'oncall', type: 'webhook', url: 'http://127.0.0.1:9/a' };
        spec.notify = [...notify, first, { ...first }];
        spec.escalation = [];
      }
      return { strict: true };
    }
    case 'range': {
      const places: [Doc, string, unknown][] = steps.map((s) => [s, 'attempts', choose([0, -1, 101, 1.5])]);
      if (obj(spec.approval)) {
        const a = spec.approval as Doc;
        places.push([a, 'quorum', choose([0, -1, 1.5])]);
        places.push([a, 'required-quorum', (arr(a.approvers).length || 0) + 1]);
      }
      for (const c of verify) if (c.type === 'http') places.push([c, 'expectStatus', choose([99, 600, 1.5])], [c, 'successes', choose([0, 101])]);
      for (const s of steps) if (s.type === 'kubernetes' || s.type === 'helm') places.push([s, 'toRevision', choose([0, -1, 1.5])]);
      for (const e of arr(spec.escalation)) places.push([e, 'at', choose(['0%', '101%', '1000%', '150%'])]);
      const [o, key, value] = choose(places);
      if (key === 'required-quorum') {
        o.required = true;
        o.quorum = value;
      } else o[key] = value;
      return { strict: true };
    }
    case 'hostile-name': {
      const places: [Doc, string][] = [
        [doc.metadata, 'name'],
        [spec, 'service'],
        [spec, 'environment'],
        ...steps.map((s): [Doc, string] => [s, 'name']),
        ...notify.map((n): [Doc, string] => [n, 'name']),
      ];
      const [o, key] = choose(places);
      const v = notName(typeof m.value === 'string' ? m.value : String(m.value));
      if (v === '' && key === 'name' && o !== doc.metadata) o[key] = 'x'.repeat(64);
      else o[key] = v;
      return { strict: true };
    }
    case 'wrong-type': {
      const places: [Doc, string][] = [
        [doc as unknown as Doc, 'spec'],
        [spec, 'steps'],
        [spec, 'approval'],
        [spec, 'notify'],
        [spec, 'escalation'],
        [spec, 'verify'],
        ...steps.map((s): [Doc, string] => [s, 'type']),
        ...steps.map((s): [Doc, string] => [s, 'timeout']),
      ];
      const [o, key] = choose(places);
      o[key] = m.value;
      // null for an optional section, or a string that happens to be valid there, may leave it valid.
      return { strict: false };
    }
    default: {
      // Hostile YAML text.
      const text = stringify(doc);
      const variants = [
        `${text}\nspec: {}\n`, // duplicate key
        'a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
        text.slice(0, Math.max(1, (m.pick % text.length) - 1)), // truncated
        text.replace(/\n {2}/, '\n\t'), // a tab in the indentation
        `${text}---\n${text}`, // two documents
        '',
        '- just\n- a list\n',
        '"unterminated',
        `${text}\nx: !!binary AAAA\n`,
        '{'.repeat(1000),
      ];
      const i = m.pick % variants.length;
      // A truncation can end on a line break and keep a valid document; an empty file or list are invalid anyway.
      return { text: variants[i], strict: i !== 2 };
    }
  }
}

// --- calendars ----------------------------------------------------------------------------------

function mutateCalendar(doc: CalendarDoc, m: Mutation): { text?: string; strict: boolean } {
  const spec = doc.spec;
  const windows = spec.windows;
  const choose = <T>(xs: T[]): T => xs[m.pick % xs.length];
  const once = windows.filter((w) => w.start !== undefined && w.schedule === undefined);
  const recurring = windows.filter((w) => w.schedule !== undefined && w.start === undefined);
  switch (m.kind) {
    case 'duration': {
      const withDuration = windows.filter((w) => w.duration !== undefined);
      if (withDuration.length === 0) {
        windows.push({ name: 'added', schedule: '0 16 * * FRI', duration: notDuration(m.value, L.freeze), scope: { environments: ['prod'] } });
      } else choose(withDuration).duration = notDuration(m.value, L.freeze);
      return { strict: true };
    }
    case 'unknown-key': {
      const targets: Doc[] = [doc as unknown as Doc, doc.metadata, spec, ...windows, ...windows.map((w) => w.scope as Doc)];
      const target = choose(targets);
      if (Object.prototype.hasOwnProperty.call(target, m.key)) return { strict: false };
      setKey(target, m.key, m.value);
      return { strict: true };
    }
    case 'missing': {
      const required: [Doc, string][] = [
        [doc as unknown as Doc, 'apiVersion'],
        [doc as unknown as Doc, 'kind'],
        [doc.metadata, 'name'],
        [spec, 'timezone'],
        ...windows.map((w): [Doc, string] => [w, 'scope']),
        ...windows.map((w): [Doc, string] => [w, 'name']),
        ...once.map((w): [Doc, string] => [w, 'start']),
        ...recurring.map((w): [Doc, string] => [w, 'duration']),
        ...windows.map((w): [Doc, string] => [w.scope as Doc, 'environments']),
      ];
      const [o, key] = choose(required);
      delete o[key];
      return { strict: true };
    }
    case 'duplicate': {
      const w = { name: 'twice', schedule: '0 16 * * FRI', duration: '64h', scope: { environments: ['prod'] } };
      windows.push(w, { ...w });
      return { strict: true };
    }
    case 'range': {
      const variant = m.pick % 9;
      if (variant === 0) spec.exceptions = { approvers: ['alice'], quorum: choose([0, 2, 1.5, -1]) };
      else if (variant === 1)
        windows.push({
          name: 'cron',
          schedule: choose(['61 * * * *', '* * * *', 'every friday', '0 16 * * FRI *', '0 25 * * *']),
          duration: '1h',
          scope: { environments: ['prod'] },
        });
      else if (variant === 2) spec.timezone = choose(['Mars/Base', 'EST5EDT4', '', 'UTC+25']);
      else if (variant === 3) windows.push({ name: 'year', start: '2300-01-01T00:00', duration: '1d', scope: { environments: ['prod'] } });
      else if (variant === 4) windows.push({ name: 'backwards', start: '2026-11-26T00:00', end: '2026-11-25T00:00', scope: { environments: ['prod'] } });
      else if (variant === 5) windows.push({ name: 'too-long', start: '2026-01-01T00:00', end: '2027-06-01T00:00', scope: { environments: ['prod'] } });
      else if (variant === 6)
        windows.push({ name: 'both', start: '2026-11-26T00:00', schedule: '0 16 * * FRI', duration: '1h', scope: { environments: ['prod'] } });
      else if (variant === 7) spec.guardrails = { notify: ['nobody'] };
      else spec.guardrails = { flags: { file: 'relative/flags.json', freezeTag: 'feature' } };
      return { strict: true };
    }
    case 'hostile-name': {
      const places: [Doc, string][] = [[doc.metadata, 'name'], ...windows.map((w): [Doc, string] => [w, 'name'])];
      if (places.length === 1) windows.push({ name: 'x', schedule: '0 16 * * FRI', duration: '1h', scope: { environments: ['prod'] } }, {});
      const [o, key] = choose(places.length === 1 ? [[windows.at(-2)!, 'name'] as [Doc, string]] : places);
      const v = notName(typeof m.value === 'string' ? m.value : String(m.value));
      o[key] = v === '' ? '-' : v;
      return { strict: true };
    }
    case 'wrong-type': {
      const places: [Doc, string][] = [
        [doc as unknown as Doc, 'spec'],
        [spec, 'windows'],
        [spec, 'exceptions'],
        [spec, 'guardrails'],
        ...windows.map((w): [Doc, string] => [w, 'start']),
        ...windows.map((w): [Doc, string] => [w, 'scope']),
      ];
      const [o, key] = choose(places);
      o[key] = m.value;
      return { strict: false };
    }
    default: {
      const text = stringify(doc);
      const variants = [`${text}\nspec: {}\n`, '', 'windows: *nothing\n', `${text}---\n${text}`, '[1, 2', text.replace('timezone:', 'timezone: [')];
      return { text: variants[m.pick % variants.length], strict: true };
    }
  }
}

// --- the properties -----------------------------------------------------------------------------

/** Invalid documents in total (60% runbooks, 40% calendars); YAML parsing is most of the time (~0.6 ms each). */
const RUNS = Number(process.env.REARGUARD_FUZZ_VALIDATION_RUNS ?? 10_000);
const WANT = { runbook: Math.ceil(RUNS * 0.6), calendar: Math.ceil(RUNS * 0.4) };
const invalidTotal = { runbook: 0, calendar: 0 };
const samples: { kind: 'runbook' | 'calendar'; text: string }[] = [];

function check(kind: 'runbook' | 'calendar', doc: RunbookDoc | CalendarDoc, mutations: Mutation[], counts: { invalid: number; stillValid: number }): void {
  const copy = structuredClone(doc);
  let text: string | undefined;
  let strict = false;
  // Structure-breaking mutations last, so the others still find the fields they aim at.
  const order = (m: Mutation) => ['wrong-type', 'yaml'].indexOf(m.kind);
  for (const m of [...mutations].sort((a, b) => order(a) - order(b))) {
    let r: { text?: string; strict: boolean };
    try {
      r = kind === 'runbook' ? mutateRunbook(copy as RunbookDoc, m) : mutateCalendar(copy as CalendarDoc, m);
    } catch {
      continue; // an earlier mutation removed what this one aims at
    }
    if (r.text !== undefined) {
      // The text replaces the document: only its own strictness counts (a truncation may cut off an earlier mistake).
      text = r.text;
      strict = r.strict;
      break;
    }
    // Loose mutations come after the strict ones and may replace what those broke: the last one decides.
    strict = r.strict;
  }
  text ??= stringify(copy);
  const context = () => `${kind} mutated by ${mutations.map((m) => m.kind).join(', ')}:\n${text!.slice(0, 2000)}`;
  let result: ReturnType<typeof parseRunbook> | ReturnType<typeof parseCalendar>;
  try {
    result = kind === 'runbook' ? parseRunbook(text) : parseCalendar(text);
  } catch (err) {
    assert.fail(`validation threw ${(err as Error)?.stack ?? String(err)} for ${context()}`);
  }
  if (result.ok) {
    assert.ok(!strict, `accepted an invalid ${context()}`);
    counts.stillValid++;
    return;
  }
  assertProblems(result.problems, context);
  counts.invalid++;
  if (samples.filter((s) => s.kind === kind).length < 100 && counts.invalid % Math.max(1, Math.floor(WANT[kind] / 100)) === 1) samples.push({ kind, text });
}

describe('validation fuzzing', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rearguard-fuzz-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the generators make valid runbooks and calendars', () => {
    fc.assert(
      fc.property(validRunbookDoc, (doc) => {
        const r = parseRunbook(stringify(doc));
        assert.ok(r.ok, r.ok ? '' : `${r.problems.join('\n')}\n${stringify(doc)}`);
      }),
      { seed, numRuns: 500 },
    );
    fc.assert(
      fc.property(validCalendarDoc(NOW), (doc) => {
        const r = parseCalendar(stringify(doc));
        assert.ok(r.ok, r.ok ? '' : `${r.problems.join('\n')}\n${stringify(doc)}`);
      }),
      { seed, numRuns: 500 },
    );
  });

  for (const kind of ['runbook', 'calendar'] as const) {
    it(`${WANT[kind]} invalid ${kind}s: each refused with path: message lines, never a throw`, () => {
      const counts = { invalid: 0, stillValid: 0 };
      const docs = kind === 'runbook' ? validRunbookDoc : validCalendarDoc(NOW);
      fc.assert(
        fc.property(docs as fc.Arbitrary<RunbookDoc | CalendarDoc>, fc.array(mutation, { minLength: 1, maxLength: 3 }), (doc, mutations) =>
          check(kind, doc, mutations, counts),
        ),
        // Enough runs that at least RUNS documents are invalid (a loose mutation rarely leaves one valid).
        { seed: seed + (kind === 'runbook' ? 1 : 2), numRuns: Math.ceil(WANT[kind] * 1.05) + 20, includeErrorInReport: true },
      );
      console.log(`# ${kind}s: ${counts.invalid} invalid, ${counts.stillValid} still valid after a loose mutation`);
      assert.ok(counts.invalid >= WANT[kind], `only ${counts.invalid} invalid ${kind}s were generated`);
      invalidTotal[kind] = counts.invalid;
    });
  }

  it(`at least ${RUNS} invalid documents in all`, () => {
    assert.ok(invalidTotal.runbook + invalidTotal.calendar >= RUNS, JSON.stringify(invalidTotal));
  });

  it('the CLI exits 2 for them, in-process: `runbook validate` and `freeze calendar validate`', async () => {
    assert.ok(samples.length > 50, `only ${samples.length} samples`);
    for (const [i, s] of samples.entries()) {
      const file = join(dir, `${s.kind}-${i}.yaml`);
      await writeFile(file, s.text);
      const { code, stderr } = await inProcess(s.kind === 'runbook' ? ['runbook', 'validate', file] : ['freeze', 'calendar', 'validate', file]);
      assert.equal(code, 2, `exit code for ${file}:\n${stderr}`);
      const [head, ...problems] = stderr.trimEnd().split('\n');
      assert.equal(head, `${file}: invalid ${s.kind === 'runbook' ? 'runbook' : 'freeze calendar'}`);
      assertProblems(
        problems.map((p) => p.replace(/^ {2}/, '')),
        () => s.text,
      );
    }
  });

  it('the real CLI: exit 2, problems on stderr, no stack trace', async () => {
    const picks = [...samples.filter((s) => s.kind === 'runbook').slice(0, 3), ...samples.filter((s) => s.kind === 'calendar').slice(0, 2)];
    for (const [i, s] of picks.entries()) {
      const file = join(dir, `spawned-${i}.yaml`);
      await writeFile(file, s.text);
      const args = s.kind === 'runbook' ? ['runbook', 'validate', file] : ['freeze', 'calendar', 'validate', file];
      const r = await promisify(execFile)(process.execPath, [CLI, ...args], { env: cliEnv({ ...process.env, REARGUARD_DEBUG: '' }) }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(r.code, 2, `${r.stderr.slice(0, 2000)}\nfor ${s.kind}:\n${s.text.slice(0, 3000)}`);
      assert.doesNotMatch(r.stderr, STACK);
      assert.match(r.stderr, /: invalid (runbook|freeze calendar)\n {2}\S/);
    }
  });
});

/** Runs the CLI's main() in this process, capturing what it writes. */
async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'rearguard', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
