// Freeze calendars from the CLI against a real Temporal dev server: apply creates Schedules and windows,
// re-applying changes nothing, an edit updates or removes exactly what changed; the weekly window's
// Schedule fires at 16:00 New York time on both sides of the November DST change; .ics export.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import type { FreezeState, FreezeWindowInput } from '../../runbook/freeze.js';
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
  [env, dir] = await Promise.all([createDevServerEnv(), mkdtemp(join(tmpdir(), 'rearguard-calendar-'))]);
  e = rearguardEnv(env, dir, 'calendar', {
    REARGUARD_METRICS_PORT: '0',
    TZ,
  });
  worker = await startWorker(e);
});
after(async () => {
  await worker?.stop('SIGKILL');
  await env?.teardown();
});

const local = (t: DateTime) => t.setZone(TZ).toFormat("yyyy-LL-dd'T'HH:mm");

function calendarYaml(windows: string[]): string {
  return `apiVersion: rearguard/v1
kind: FreezeCalendar
metadata: { name: company-freezes }
spec:
  timezone: ${TZ}
  windows:
${windows.map((w) => `    - ${w}`).join('\n')}
  exceptions: { approvers: [rm-ann, rm-bo], quorum: 1 }
`;
}

describe('freeze calendar', () => {
  const now = DateTime.now();
  const incident = (end: DateTime) =>
    `{ name: peak-now, start: ${local(now.minus({ minutes: 1 }))}, end: ${local(end)}, scope: { environments: [prod] }, reason: Peak sale }`;
  const later = `{ name: year-end, start: ${local(now.plus({ days: 20 }))}, end: ${local(now.plus({ days: 22 }))}, scope: { environments: [prod, staging] } }`;
  const weekly = (d: string, cron = '0 16 * * FRI') =>
    `{ name: weekends, schedule: "${cron}", duration: ${d}, scope: { environments: [prod], services: ["*"] } }`;
  // Weekly, three days from now: no occurrence is in progress, so apply starts none (freezes-in-effect.test.ts covers that).
  const notNow = `0 16 * * ${(now.setZone(TZ).weekday + 3) % 7}`;

  it('apply creates, re-apply changes nothing, an edit updates and removes exactly what changed', async () => {
    const file = join(dir, 'calendar.yaml');
    await writeFile(file, calendarYaml([incident(now.plus({ hours: 2 })), later, weekly('64h', notNow)]));

    const dry = await rearguard(['freeze', 'calendar', 'apply', file, '--dry-run'], e);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /peak-now\s+once\s+would be created/);
    assert.equal((await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'payments'], e)).code, 0, 'a dry run changes nothing');

    const first = await rearguard(['freeze', 'calendar', 'apply', file, '--json', '--as', 'rm-cal'], e);
    assert.equal(first.code, 0, first.stderr);
    const outcomes = (r: { stdout: string }) =>
      Object.fromEntries((JSON.parse(r.stdout).results as { window: string; outcome: string }[]).map((x) => [x.window, x.outcome]));
    assert.deepEqual(outcomes(first), { 'peak-now': 'created', 'year-end': 'created', weekends: 'created' });

    const check = await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'payments'], e);
    assert.equal(check.code, 3, 'the window in progress is enforced as soon as apply returns');
    assert.match(check.stderr, /peak-now: Peak sale/);
    assert.equal((await rearguard(['freeze', 'check', '--env', 'staging', '--service', 'payments'], e)).code, 0, 'year-end has not started');

    // A one-off window is started by the person who applied the calendar; a recurring one by its Schedule, which records them.
    const started = (await env.client.workflow.getHandle('freeze:peak-now').query(freezeStateQuery)) as FreezeState;
    assert.equal(started.actor, 'rm-cal');
    assert.equal(started.calendar?.appliedBy, 'rm-cal');
    const created = await env.client.schedule.getHandle('freeze-schedule:weekends').describe();
    const scheduled = created.action.type === 'startWorkflow' ? (created.action.args?.[0] as FreezeWindowInput) : undefined;
    assert.equal(scheduled?.actor, 'schedule:weekends');
    assert.equal(scheduled?.calendar?.appliedBy, 'rm-cal');

    const again = await rearguard(['freeze', 'calendar', 'apply', file, '--json', '--as', 'rm-dan'], e);
    assert.deepEqual(outcomes(again), { 'peak-now': 'unchanged', 'year-end': 'unchanged', weekends: 'unchanged' }, 'who applies is not part of the definition');

    const newEnd = now.plus({ hours: 3 });
    await writeFile(file, calendarYaml([incident(newEnd), weekly('60h', notNow)]));
    const edited = await rearguard(['freeze', 'calendar', 'apply', file, '--json'], e);
    assert.equal(edited.code, 0, edited.stderr);
    assert.deepEqual(outcomes(edited), { 'peak-now': 'updated', weekends: 'updated', 'year-end': 'lifted' });
    const peak = (await env.client.workflow.getHandle('freeze:peak-now').query(freezeStateQuery)) as FreezeState;
    assert.equal(peak.end, newEnd.set({ second: 0, millisecond: 0 }).toUTC().toISO());
    assert.equal(peak.phase, 'active');
    const yearEnd = (await env.client.workflow.getHandle('freeze:year-end').result()) as FreezeState;
    assert.equal(yearEnd.phase, 'lifted');
    const schedule = await env.client.schedule.getHandle('freeze-schedule:weekends').describe();
    // The Schedule's action carries the occurrence length in milliseconds (parsed once, when the calendar was validated).
    assert.equal(schedule.action.type === 'startWorkflow' && (schedule.action.args?.[0] as { duration: number }).duration, 60 * 3_600_000);

    // A window someone lifted by hand is not restarted by the next apply.
    assert.equal((await rearguard(['freeze', 'lift', '--name', 'peak-now', '--reason', 'sale over early', '--as', 'rm-ann'], e)).code, 0);
    const after = await rearguard(['freeze', 'calendar', 'apply', file], e);
    assert.match(after.stdout, /peak-now\s+once\s+skipped\s+.*lifted by rm-ann, not restarted/);
    assert.equal((await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'payments'], e)).code, 0);

    // Removing the recurring window deletes its Schedule.
    await writeFile(file, calendarYaml([incident(newEnd)]));
    const removed = await rearguard(['freeze', 'calendar', 'apply', file, '--json'], e);
    assert.equal(outcomes(removed).weekends, 'removed');
    await assert.rejects(env.client.schedule.getHandle('freeze-schedule:weekends').describe());
  });

  it('the weekly window starts at 16:00 New York time before and after the November DST change', async () => {
    const file = join(dir, 'weekly.yaml');
    await writeFile(file, calendarYaml([weekly('64h').replace('weekends', 'weekly-dst')]));
    assert.equal((await rearguard(['freeze', 'calendar', 'apply', file], e)).code, 0);
    const handle = env.client.schedule.getHandle('freeze-schedule:weekly-dst');
    const next = (await handle.describe()).info.nextActionTimes;
    assert.ok(next.length > 0);
    for (const t of next) assert.equal(DateTime.fromJSDate(t).setZone(TZ).toFormat('ccc HH:mm'), 'Fri 16:00', `next action ${t.toISOString()}`);
    // Let the real server run the Schedule over October-November 2026: DST ended on Sunday, November 1.
    await handle.backfill([{ start: new Date('2026-10-22T00:00:00Z'), end: new Date('2026-11-14T00:00:00Z'), overlap: 'ALLOW_ALL' }]);
    const expected = ['2026-10-23T20:00:00Z', '2026-10-30T20:00:00Z', '2026-11-06T21:00:00Z', '2026-11-13T21:00:00Z'];
    for (const at of expected) {
      // Backfilled actions start asynchronously.
      const h = env.client.workflow.getHandle(`freeze:weekly-dst-${at}`);
      await waitFor(
        () =>
          h.describe().then(
            () => true,
            () => undefined,
          ),
        `the ${at} occurrence`,
      );
      const state = (await h.result()) as FreezeState;
      assert.equal(state.start, new Date(at).toISOString(), 'the window starts at the scheduled time, not when the workflow ran');
      assert.equal(DateTime.fromISO(state.start).setZone(TZ).toFormat('HH:mm'), '16:00');
      assert.equal(Date.parse(state.end) - Date.parse(state.start), 64 * 3_600_000);
      assert.equal(state.phase, 'ended', 'a past occurrence ends at once');
      assert.equal(state.actor, 'schedule:weekly-dst');
    }
    await handle.delete();
  });

  it('validate, and export as iCalendar or JSON', async () => {
    const file = join(dir, 'export.yaml');
    await writeFile(file, calendarYaml([later, weekly('64h')]));
    const ok = await rearguard(['freeze', 'calendar', 'validate', file], e);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /valid freeze calendar company-freezes \(America\/New_York\): 1 one-off and 1 recurring window/);
    const out = join(dir, 'freezes.ics');
    const exp = await rearguard(['freeze', 'calendar', 'export', file, '--ics', '--out-file', out, '--days', '28'], e);
    assert.equal(exp.code, 0, exp.stderr);
    const ics = await readFile(out, 'utf8');
    assert.equal(ics.match(/SUMMARY:Release freeze: year-end \(prod\\,staging\/\*\)/g)?.length, 1);
    const fridays = ics.match(/SUMMARY:Release freeze: weekends/g)?.length ?? 0;
    assert.ok(fridays === 4 || fridays === 5, `four Fridays in 28 days (five when one began before today): ${fridays}`);

    const plain = await rearguard(['freeze', 'calendar', 'export', file, '--days', '28'], e);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^BEGIN:VCALENDAR/, 'iCalendar is the default format');
    const asJson = await rearguard(['freeze', 'calendar', 'export', file, '--days', '28', '--json'], e);
    assert.equal(asJson.code, 0, asJson.stderr);
    const data = JSON.parse(asJson.stdout) as { calendar: string; timezone: string; occurrences: { window: string; start: string; localStart: string }[] };
    assert.equal(data.calendar, 'company-freezes');
    assert.equal(data.occurrences.filter((x) => x.window === 'weekends').length, fridays);
    assert.ok(
      data.occurrences.every((x) => /-0[45]:00$/.test(x.localStart) && x.start.endsWith('Z')),
      asJson.stdout,
    );
    const summary = await rearguard(['freeze', 'calendar', 'export', file, '--ics', '--out-file', out, '--days', '28', '--json'], e);
    assert.deepEqual(JSON.parse(summary.stdout), { file: out, format: 'ics', occurrences: fridays + 1 });
    await writeFile(file, calendarYaml(['{ name: broken, schedule: "0 16 * * FRX", scope: { environments: [prod] } }']));
    const bad = await rearguard(['freeze', 'calendar', 'apply', file], e);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /spec\.windows\[0\]\.schedule: invalid cron expression/);
    assert.match(bad.stderr, /spec\.windows\[0\]\.duration: Required/);
  });
});
