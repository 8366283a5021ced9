// Freezes that look active must be active. A calendar applied in the middle of an occurrence of a
// recurring window (a weekly window that began 26 hours ago and lasts 48) blocks at once: apply starts
// that occurrence, as its Schedule would have, with the start and end `export --ics` shows, under the ID
// the Schedule itself uses, so neither a re-apply nor the Schedule starts it twice. And `freeze start`
// for a name that is taken: the same settings are fine (said so), other settings are refused (exit 1).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import type { FreezeState } from '../../runbook/freeze.js';
import type { AuditEvent } from '../../runbook/types.js';
import { freezeStateQuery } from '../../api/messages.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';

let env: TestWorkflowEnvironment;
let dir: string;
let worker: WorkerProcess | undefined;
let e: Record<string, string>;
const TZ = 'America/New_York';

before(async () => {
  [env, dir] = await Promise.all([createDevServerEnv(), mkdtemp(join(tmpdir(), 'rearguard-in-effect-'))]);
  e = rearguardEnv(env, dir, 'in-effect', {
    REARGUARD_METRICS_PORT: '0',
    TZ,
  });
  worker = await startWorker(e);
});
after(async () => {
  await worker?.stop('SIGKILL');
  await env?.teardown();
});

/** The workflow ID Temporal gives a Schedule's run: the action's ID, "-", the nominal time in RFC 3339. */
const scheduledId = (ms: number) => `freeze:midweek-${new Date(ms).toISOString().replace('.000Z', 'Z')}`;

/** Events of an .ics file as [summary, start ms, end ms]. */
function icsEvents(ics: string): { summary: string; start: number; end: number }[] {
  const at = (s: string) => Date.parse(s.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
  return ics
    .split('BEGIN:VEVENT')
    .slice(1)
    .map((block) => ({
      summary: /SUMMARY:(.*)/.exec(block)![1].trim(),
      start: at(/DTSTART:(\S+)/.exec(block)![1]),
      end: at(/DTEND:(\S+)/.exec(block)![1]),
    }));
}

describe('freezes in effect', () => {
  it('a calendar applied in the middle of a recurring occurrence blocks at once, once', async () => {
    // A weekly window that began 26 hours ago, in New York time, and lasts 48 hours: in progress now.
    const began = DateTime.now().setZone(TZ).minus({ hours: 26 }).set({ second: 0, millisecond: 0 });
    const cron = `${began.minute} ${began.hour} * * ${began.weekday % 7}`;
    const file = join(dir, 'calendar.yaml');
    await writeFile(
      file,
      `apiVersion: rearguard/v1
kind: FreezeCalendar
metadata: { name: release-train }
spec:
  timezone: ${TZ}
  windows:
    - { name: midweek, schedule: "${cron}", duration: 48h, scope: { environments: [prod], services: [payments] }, reason: Midweek release freeze }
`,
    );
    const occurrenceStart = began.toMillis();
    const id = scheduledId(occurrenceStart);

    // The same occurrence as the calendar export shows covering now.
    const exp = await rearguard(['freeze', 'calendar', 'export', file, '--ics', '--from', began.minus({ days: 1 }).toISODate()!, '--days', '4'], e);
    assert.equal(exp.code, 0, exp.stderr);
    const now = Date.now();
    const covering = icsEvents(exp.stdout).filter((x) => x.summary.startsWith('Release freeze: midweek') && x.start <= now && now < x.end);
    assert.deepEqual(covering, [{ summary: 'Release freeze: midweek (prod/payments)', start: occurrenceStart, end: occurrenceStart + 48 * 3_600_000 }]);

    const dry = await rearguard(['freeze', 'calendar', 'apply', file, '--dry-run'], e);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /midweek\s+recurring\s+would be created/);
    assert.match(dry.stdout, new RegExp(`midweek\\s+occurrence\\s+would be created\\s+.*: in progress, starts now`));
    assert.equal((await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'payments'], e)).code, 0, 'a dry run changes nothing');

    const apply = await rearguard(['freeze', 'calendar', 'apply', file], e);
    assert.equal(apply.code, 0, apply.stderr);
    assert.match(apply.stdout, /midweek\s+occurrence\s+created\s+.*: in progress, starts now/);
    // Enforced the moment apply returned.
    const check = await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'payments'], e);
    assert.equal(check.code, 3, check.stdout + check.stderr);
    assert.match(check.stderr, /midweek: Midweek release freeze \(by schedule:midweek\)/);
    assert.equal((await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'search'], e)).code, 0, 'only the scope is frozen');

    const handle = env.client.workflow.getHandle(id);
    const state = (await handle.query(freezeStateQuery)) as FreezeState;
    assert.equal(state.phase, 'active');
    assert.equal(Date.parse(state.start), occurrenceStart, 'the occurrence keeps its real start');
    assert.equal(Date.parse(state.end), occurrenceStart + 48 * 3_600_000, 'and ends when the occurrence ends');
    assert.deepEqual(state.calendar?.name, 'release-train');
    const { runId } = await handle.describe();

    const again = await rearguard(['freeze', 'calendar', 'apply', file, '--json'], e);
    assert.equal(again.code, 0, again.stderr);
    const results = (JSON.parse(again.stdout) as { results: { kind: string; outcome: string }[] }).results;
    assert.deepEqual(
      results.filter((r) => r.outcome !== 'unchanged'),
      [],
      'a re-apply changes nothing',
    );

    // The Schedule's own action for this occurrence cannot start a second run: it uses the same ID. A backfill
    // makes it try; the previous week's occurrence, backfilled after it, shows that the Schedule has acted.
    const schedule = env.client.schedule.getHandle('freeze-schedule:midweek');
    const around = (ms: number) => ({ start: new Date(ms - 60_000), end: new Date(ms + 60_000), overlap: 'ALLOW_ALL' as const });
    await schedule.backfill([around(occurrenceStart)]);
    const previousWeek = began.minus({ weeks: 1 }).toMillis();
    await schedule.backfill([around(previousWeek)]);
    const control = await waitFor(
      () =>
        env.client.workflow
          .getHandle(scheduledId(previousWeek))
          .result()
          .then(
            (s) => s as FreezeState,
            () => undefined,
          ),
      'the previous week, started by the Schedule',
    );
    assert.equal(Date.parse(control.start), previousWeek, 'the Schedule names and starts its runs as apply did');
    assert.equal((await handle.describe()).runId, runId, 'still the run apply started');
    const runs: string[] = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowType = 'freezeWindow'` }))
      if (w.workflowId.startsWith('freeze:midweek-')) runs.push(w.workflowId);
    assert.deepEqual(runs.sort(), [scheduledId(previousWeek), id].sort(), 'one run per occurrence');
  });

  it('freeze start for a taken name: the same settings are fine, other settings are refused with the difference', async () => {
    const start = (...args: string[]) =>
      rearguard(['freeze', 'start', '--name', 'rca', '--env', 'prod', '--service', 'checkout', '--reason', 'RCA of the outage', ...args], e);
    const first = await start('--duration', '1d', '--as', 'rm-ann');
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^Freeze started: rca \(prod \/ checkout\)/);

    const same = await start('--duration', '1d', '--as', 'rm-cy');
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /^Freeze rca is already running with the same settings: rca \(prod \/ checkout\).*\(started by rm-ann; nothing was changed\)/);

    const staging = await rearguard(
      ['freeze', 'start', '--name', 'rca', '--env', 'staging', '--service', 'checkout', '--duration', '1d', '--reason', 'RCA', '--as', 'rm-cy'],
      e,
    );
    assert.equal(staging.code, 1, staging.stdout);
    assert.match(staging.stderr, /freeze rca is already running with different settings; nothing was changed:/);
    assert.match(staging.stderr, /environments: running prod, you asked for staging/);
    assert.match(staging.stderr, /use a new name: rearguard freeze start --name <ANOTHER-NAME>/);
    assert.equal((await rearguard(['freeze', 'check', '--env', 'staging', '--service', 'checkout'], e)).code, 0, 'staging is not frozen');

    const longer = await start('--duration', '2d', '--as', 'rm-cy');
    assert.equal(longer.code, 1);
    assert.match(longer.stderr, /end: running \d{4}-\d\d-\d\d \d\d:\d\d E[SD]T, you asked for \d{4}-\d\d-\d\d \d\d:\d\d E[SD]T/);
    assert.match(longer.stderr, /To move its end: rearguard freeze extend --name rca --end \d{4}-\d\d-\d\dT\d\d:\d\d --tz America\/New_York --reason/);
    assert.doesNotMatch(longer.stderr, /ANOTHER-NAME/, 'only the end differs');

    // Extended since: the command that started it still asks for the same window.
    assert.equal((await rearguard(['freeze', 'extend', '--name', 'rca', '--by', '1d', '--reason', 'more time', '--as', 'rm-ann'], e)).code, 0);
    const rerun = await start('--duration', '1d', '--as', 'rm-ann');
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stdout, /already running with the same settings/);

    const audit = (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((x) => x.workflowId === 'freeze:rca');
    assert.deepEqual(
      audit.map((x) => `${x.action} by ${x.actor}`),
      ['freeze.started by rm-ann', 'freeze.extended by rm-ann'],
      'started once, whoever ran the command again',
    );
  });
});
