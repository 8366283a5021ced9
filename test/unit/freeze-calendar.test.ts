// FreezeCalendar files: validation messages, local times to instants (across DST), occurrences and the .ics export.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { calendarPlan } from '../../api/calendars.js';
import { calendarIcs } from '../../runbook/calendar-ics.js';
import { occurrences, planCalendar, validateCalendar, type FreezeCalendar } from '../../runbook/calendar.js';
import { guardrailsMinus } from '../../runbook/freeze.js';

const DOC = `
apiVersion: rearguard/v1
kind: FreezeCalendar
metadata: { name: company-freezes }
spec:
  timezone: America/New_York
  cluster: prod-eu
  windows:
    - { name: black-friday, start: 2026-11-26T00:00, end: 2026-12-01T08:00, scope: { environments: [prod] }, reason: Peak business event }
    - { name: weekends, schedule: "0 16 * * FRI", duration: 64h, scope: { environments: [prod], services: ["*"] } }
  exceptions: { approvers: [rm-ann, rm-bo], quorum: 1 }
  notify:
    - { name: release-channel, type: webhook, url: https://hooks.example.com/release }
  guardrails:
    argocd: { namespace: argocd, projects: [default] }
    flux: { kustomizations: [flux-system/apps] }
    flags: { file: /etc/flags/flags.json, freezeTag: feature }
    notify: [release-channel]
`;

function valid(text = DOC): FreezeCalendar {
  const r = validateCalendar(parse(text));
  assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
  return r.value;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function problems(mutate: (doc: any) => void): string[] {
  const doc = parse(DOC);
  mutate(doc);
  const r = validateCalendar(doc);
  assert.ok(!r.ok, 'expected problems');
  return r.problems;
}

describe('FreezeCalendar', () => {
  it('accepts the documented example and fills defaults', () => {
    const cal = valid();
    assert.deepEqual(cal.spec.windows[0].scope.services, ['*']);
    assert.equal(cal.spec.guardrails.argocd?.mode, 'syncWindow');
  });

  it('names the field and what was expected for every mistake', () => {
    assert.deepEqual(
      problems((d) => {
        d.spec.timezone = 'Mars/Olympus';
        d.spec.windows[0].end = 'next tuesday';
        d.spec.windows[1].schedule = '0 16 * *';
        d.spec.windows.push({ name: 'Bad_Name', start: '2026-12-24T00:00', scope: { environments: ['prod'] } });
        d.spec.guardrails.notify = ['nobody'];
        d.spec.oops = 1;
      }),
      [
        'spec.timezone: expected an IANA time zone such as America/New_York',
        'spec.windows[0].end: expected a local date and time such as 2026-11-26T00:00',
        'spec.windows[1].schedule: expected a five-field cron expression such as "0 16 * * FRI"',
        "spec.windows[2].name: expected a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
        'spec.windows[2].end: expected exactly one of end or duration',
        'spec.oops: unknown key',
      ],
    );
    assert.deepEqual(
      problems((d) => {
        d.spec.windows[1].name = 'black-friday';
        d.spec.windows[0].end = '2026-11-25T00:00';
        d.spec.guardrails.notify = ['nobody'];
        d.spec.exceptions.quorum = 3;
        delete d.spec.cluster;
      }),
      [
        'spec.windows[0].end: 2026-11-25T00:00 is not after the start 2026-11-26T00:00',
        'spec.windows[1].name: duplicate window name "black-friday" (also spec.windows[0])',
        'spec.exceptions.quorum: 3 is larger than the 2 approver(s)',
        'spec.guardrails.notify[0]: no notify target named nobody in spec.notify (defined: release-channel)',
        'spec.guardrails.argocd.cluster: Required (or spec.cluster)',
        'spec.guardrails.flux.cluster: Required (or spec.cluster)',
      ],
    );
    assert.deepEqual(
      problems((d) => {
        d.spec.windows[1].schedule = '0 25 * * FRI';
        delete d.spec.windows[1].duration;
      }),
      [
        'spec.windows[1].schedule: invalid cron expression: Constraint error, got value 25 expected range 0-23',
        'spec.windows[1].duration: Required (how long each occurrence lasts, e.g. 64h)',
      ],
    );
  });

  it('plans one-off windows as instants in the calendar zone, recurring ones as schedules', () => {
    const [once, weekly] = calendarPlan(valid());
    assert.equal(once.kind, 'once');
    assert.equal(once.kind === 'once' && once.workflowId, 'freeze:black-friday');
    assert.equal(once.input.start, '2026-11-26T05:00:00.000Z', 'midnight EST is 05:00Z');
    assert.equal(once.input.end, '2026-12-01T13:00:00.000Z');
    assert.equal(once.input.actor, 'calendar:company-freezes', 'until someone applies it: apply makes them the actor');
    assert.deepEqual(once.input.guardrails?.argocd, { cluster: 'prod-eu', namespace: 'argocd', projects: ['default'], mode: 'syncWindow' });
    assert.deepEqual(
      once.input.notify?.map((t) => t.name),
      ['release-channel'],
    );
    assert.equal(weekly.kind, 'recurring');
    assert.equal(weekly.kind === 'recurring' && weekly.scheduleId, 'freeze-schedule:weekends');
    assert.equal(weekly.input.duration, 64 * 3_600_000, '64h, in milliseconds');
    assert.equal(weekly.input.calendar?.name, 'company-freezes');
  });

  it('fingerprints change exactly when a window definition changes', () => {
    const a = planCalendar(valid());
    const b = planCalendar(valid());
    assert.deepEqual(
      a.map((p) => p.digest),
      b.map((p) => p.digest),
    );
    const edited = planCalendar(valid(DOC.replace('duration: 64h', 'duration: 60h')));
    assert.equal(edited[0].digest, a[0].digest);
    assert.notEqual(edited[1].digest, a[1].digest);
    const guarded = planCalendar(valid(DOC.replace('projects: [default]', 'projects: [default, payments]')));
    assert.notEqual(guarded[0].digest, a[0].digest, 'guardrails are part of each window');
  });

  it('weekly occurrences keep the local hour across the November DST change', () => {
    const from = Date.parse('2026-10-20T00:00:00Z');
    const weekly = occurrences(valid(), from, Date.parse('2026-11-14T00:00:00Z')).filter((o) => o.window.name === 'weekends');
    assert.deepEqual(
      weekly.map((o) => new Date(o.start).toISOString()),
      ['2026-10-23T20:00:00.000Z', '2026-10-30T20:00:00.000Z', '2026-11-06T21:00:00.000Z', '2026-11-13T21:00:00.000Z'],
    );
    assert.ok(weekly.every((o) => o.end - o.start === 64 * 3_600_000));
  });

  it('exports an iCalendar file with one event per occurrence', () => {
    const from = Date.parse('2026-11-20T00:00:00Z');
    const ics = calendarIcs(valid(), from, from + 14 * 86_400_000);
    assert.match(ics, /^BEGIN:VCALENDAR\r\n/);
    const events = ics.split('BEGIN:VEVENT').slice(1);
    assert.equal(events.length, 3, 'black-friday and two weekends (one overlapping it)');
    assert.match(ics, /SUMMARY:Release freeze: black-friday \(prod\/\*\)/);
    assert.match(ics, /DTSTART:20261126T050000Z/);
    assert.match(ics, /UID:company-freezes\.weekends\.\d+@rearguard/);
    assert.match(ics, /DESCRIPTION:Peak business event\\n/);
  });

  it('guardrailsMinus keeps only what the new definition no longer guards', () => {
    const a = {
      argocd: { cluster: 'c', namespace: 'argocd', projects: ['default', 'payments'], mode: 'syncWindow' as const },
      flux: { cluster: 'c', kustomizations: ['flux-system/apps'], helmReleases: [] },
    };
    assert.equal(guardrailsMinus(a, a), undefined);
    assert.deepEqual(guardrailsMinus(a, { argocd: { ...a.argocd, projects: ['default'] } }), {
      argocd: { ...a.argocd, projects: ['payments'] },
      flux: a.flux,
    });
    assert.deepEqual(guardrailsMinus(a, { ...a, argocd: { ...a.argocd, mode: 'disableAutoSync' } }), { argocd: a.argocd });
  });
});
