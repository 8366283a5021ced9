// `freeze check` checks its flags without zod (client/actions/gate.ts: the gate starts faster without it). It must
// refuse exactly what the zod schemas of the other commands refuse, with the same lines: the schema below is the
// gate's as the other commands would write it (options.ts changeId for --change), run through parseOptions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { gateOptions } from '../../client/actions/gate.js';
import { CliError, parseOptions } from '../../client/errors.js';
import { changeId } from '../../client/options.js';
import { DNS1123_LABEL } from '../../runbook/names.js';

const schema = z.object({
  env: z.string().regex(DNS1123_LABEL, 'expected an environment name in lowercase, such as prod (a DNS-1123 label)'),
  service: z.string().regex(DNS1123_LABEL, 'expected a service name in lowercase, such as payments (a DNS-1123 label)'),
  change: changeId.optional(),
  failOpen: z.boolean().optional(),
});

const outcome = (parse: () => unknown): unknown => {
  try {
    return { ok: parse() };
  } catch (err) {
    assert.ok(err instanceof CliError, String(err));
    return { exitCode: err.exitCode, lines: err.lines };
  }
};

describe('freeze check flags', () => {
  const cases: Record<string, unknown>[] = [
    { env: 'prod', service: 'payments' },
    { env: 'prod', service: 'payments', change: 'PR-1234', failOpen: true },
    { env: 'prod', service: 'payments', change: 'org/repo#12:abc.def_1' },
    { env: 'PROD', service: 'api' },
    { env: 'prod', service: 'pay ments' },
    { env: '-prod', service: 'x-' },
    { env: 'prod\u001b[2J', service: 'api', change: 'x&env=staging' },
    { env: 'prod', service: 'api', change: '' },
    { env: 'prod', service: 'api', change: '-rf' },
    { env: 'prod', service: 'api', change: 'A'.repeat(128) },
    { env: 'prod', service: 'api', change: 'A'.repeat(129) },
    { env: 'prod', service: 'api', change: `${'A'.repeat(129)} !` },
    { env: 'Prod', service: 'API', change: '#1' },
  ];
  for (const raw of cases)
    it(`${JSON.stringify(raw).slice(0, 80)}: as the zod schema`, () => {
      assert.deepEqual(
        outcome(() => gateOptions(raw)),
        outcome(() => parseOptions(schema, raw)),
      );
    });
});
