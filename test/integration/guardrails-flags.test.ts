// Freeze guardrails against the real thing, feature flags: flag files evaluated by flagd's own evaluation
// library (@openfeature/flagd-core, strict schema validation). No testbed: the flags guardrail never asks a
// cluster. Shared setup: test/helpers/guardrails.ts.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FlagdCore, MemoryStorage } from '@openfeature/flagd-core';
import { ApplicationFailure } from '@temporalio/common';
import type { Guardrails } from '../../runbook/freeze.js';
import { A, actions, apply, B, flagFile, FLAGS, FLAGS_TEXT, restore, useGuardrailsTestbed, work } from '../helpers/guardrails.js';

useGuardrailsTestbed({ cluster: false });

const ann = { email: 'ann@example.com', plan: 'pro', targetingKey: 'ann' };
const bob = { email: 'bob@elsewhere.org', plan: 'free', targetingKey: 'bob' };

/** Every flag for both users, as an application using flagd would see them (strict schema validation). */
function evaluate(text: string): Record<string, unknown> {
  const warnings: string[] = [];
  const logger = { error: (m: string) => warnings.push(m), warn: (m: string) => warnings.push(m), info: () => {}, debug: () => {} };
  const storage = new MemoryStorage(logger);
  storage.setConfigurations(text, true); // throws on anything the flagd schema refuses (e.g. non-scalar metadata)
  const core = new FlagdCore(storage, logger);
  const out: Record<string, unknown> = {};
  for (const [who, ctx] of Object.entries({ ann, bob })) {
    out[`new-checkout/${who}`] = core.resolveStringEvaluation('new-checkout', 'fallback', ctx).value;
    out[`fix-rounding/${who}`] = core.resolveBooleanEvaluation('fix-rounding', false, ctx).value;
    out[`dark-mode/${who}`] = core.resolveBooleanEvaluation('dark-mode', false, ctx).value;
    out[`hero-banner/${who}`] = core.resolveStringEvaluation('hero-banner', 'fallback', ctx).value;
    out[`promo-slot/${who}`] = core.resolveBooleanEvaluation('promo-slot', false, ctx).value;
  }
  assert.deepEqual(warnings, []);
  return out;
}

describe('flags', () => {
  it('pins tagged flags to off while frozen (real flagd evaluation), leaves bug-fix flags alone, and restores the file byte for byte', async () => {
    const file = await flagFile('pin');
    const g: Guardrails = { flags: { file, freezeTag: 'feature' } };
    const before = evaluate(FLAGS_TEXT);
    assert.deepEqual(before, {
      'new-checkout/ann': 'v2',
      'fix-rounding/ann': true,
      'dark-mode/ann': true,
      'hero-banner/ann': 'flowers',
      'promo-slot/ann': true,
      'new-checkout/bob': 'v1',
      'fix-rounding/bob': false,
      'dark-mode/bob': false,
      'hero-banner/bob': 'flowers',
      'promo-slot/bob': true,
    });

    const a = await apply(A, g);
    assert.deepEqual(actions(a), {
      'flag new-checkout': 'pinned to off (variant off; was default "on", with targeting)',
      'flag dark-mode': 'pinned to off (variant disabled; was default "disabled", with targeting)',
      'flag hero-banner': 'skipped: tagged feature but has no off variant (named "off" or valued false)',
    });
    const during = await readFile(file, 'utf8');
    assert.deepEqual(evaluate(during), {
      ...before,
      'new-checkout/ann': 'v1', // targeting would have sent ann to on
      'dark-mode/ann': false, // and ann (pro) to enabled
    });
    const doc = JSON.parse(during);
    assert.deepEqual(doc.flags['new-checkout'], {
      state: 'ENABLED',
      variants: { on: 'v2', off: 'v1' },
      defaultVariant: 'off',
      metadata: {
        tags: 'feature,checkout',
        owner: 'payments',
        'rearguard.io/frozen-by': A,
        'rearguard.io/saved': JSON.stringify({
          keys: ['state', 'variants', 'defaultVariant', 'targeting', 'metadata'],
          state: 'ENABLED',
          defaultVariant: 'on',
          targeting: FLAGS.flags['new-checkout'].targeting,
        }),
      },
    });
    for (const untouched of ['fix-rounding', 'hero-banner', 'promo-slot'] as const) assert.deepEqual(doc.flags[untouched], FLAGS.flags[untouched], untouched);
    assert.ok(during.endsWith('}\n') && during.includes('\n  "flags": {\n    "new-checkout": {'), '2-space JSON, trailing newline');
    assert.equal((await stat(file)).mode & 0o777, 0o640, 'file mode kept');

    const mtime = (await stat(file)).mtimeMs;
    const again = await apply(A, g);
    assert.equal(actions(again)['flag new-checkout'], 'already pinned to off by this freeze');
    assert.equal(await readFile(file, 'utf8'), during, 'apply twice = same file');
    assert.equal((await stat(file)).mtimeMs, mtime, 'and not even rewritten');

    await apply(B, g);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).flags['dark-mode'].metadata['rearguard.io/frozen-by'], `${A},${B}`);
    const r1 = await restore(A, g);
    assert.deepEqual(actions(r1), { 'flag new-checkout': `still pinned to off: held by ${B}`, 'flag dark-mode': `still pinned to off: held by ${B}` });
    assert.deepEqual(evaluate(await readFile(file, 'utf8')), evaluate(during));
    const r2 = await restore(B, g);
    assert.deepEqual(actions(r2), {
      'flag new-checkout': 'unpinned (default "on", targeting restored)',
      'flag dark-mode': 'unpinned (default "disabled", targeting restored)',
    });
    const after = await readFile(file, 'utf8');
    assert.equal(after, FLAGS_TEXT, 'byte for byte, key order included');
    assert.deepEqual(evaluate(after), before);
    assert.deepEqual((await restore(B, g)).changes, [], 'a second restore is a no-op');
    assert.equal(await readFile(file, 'utf8'), FLAGS_TEXT);
  });

  it('keeps edits made during the freeze, and a retry after a partial apply or a crashed write is safe', async () => {
    const file = await flagFile('edits');
    const g: Guardrails = { flags: { file, freezeTag: 'feature' } };
    // Partial apply: only new-checkout got pinned (dark-mode was not tagged yet when it ran).
    const partial = structuredClone(FLAGS);
    partial.flags['dark-mode'].metadata.tags = 'ui';
    await writeFile(file, `${JSON.stringify(partial, null, 2)}\n`);
    await apply(A, g);
    const edited = JSON.parse(await readFile(file, 'utf8'));
    edited.flags['dark-mode'].metadata.tags = 'ui, feature';
    await writeFile(file, `${JSON.stringify(edited, null, 2)}\n`);
    // The worker died after creating its temp file, before the rename: a stale lock.
    const tmp = join(work, 'edits', '.flags.json.rearguard.tmp');
    await writeFile(tmp, '{"half": ');
    await utimes(tmp, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const retry = await apply(A, g);
    assert.deepEqual(actions(retry), {
      'flag new-checkout': 'already pinned to off by this freeze',
      'flag dark-mode': 'pinned to off (variant disabled; was default "disabled", with targeting)',
      'flag hero-banner': 'skipped: tagged feature but has no off variant (named "off" or valued false)',
    });
    assert.equal(existsSync(tmp), false, 'the stale temp file is gone');

    // During the freeze someone ships a hotfix flag and changes the bug-fix flag; a live writer holds the lock briefly.
    const doc = JSON.parse(await readFile(file, 'utf8'));
    doc.flags['hotfix-42'] = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' };
    doc.flags['fix-rounding'].defaultVariant = 'on';
    doc.flags['new-checkout'].metadata.owner = 'checkout-team';
    await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
    await writeFile(tmp, '');
    setTimeout(() => void unlink(tmp), 300);
    await restore(A, g);

    const expected = structuredClone(FLAGS) as typeof FLAGS & { flags: Record<string, unknown> };
    expected.flags['hotfix-42'] = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' };
    expected.flags['fix-rounding'].defaultVariant = 'on';
    expected.flags['new-checkout'].metadata.owner = 'checkout-team';
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), expected);
    assert.equal(evaluate(await readFile(file, 'utf8'))['new-checkout/ann'], 'v2', 'back on for example.com');
  });

  it('refuses a missing or invalid file with a clear, non-retryable error, changing nothing', async () => {
    const missing = join(work, 'nowhere', 'flags.json');
    await assert.rejects(apply(A, { flags: { file: missing, freezeTag: 'feature' } }), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure);
      assert.deepEqual([e.type, e.nonRetryable], ['ConfigurationError', true]);
      assert.match(e.message, /flag file .*nowhere\/flags\.json does not exist/);
      return true;
    });
    const broken = await flagFile('broken', '{ "flags": { "x": ');
    await assert.rejects(restore(A, { flags: { file: broken, freezeTag: 'feature' } }), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure);
      assert.deepEqual([e.type, e.nonRetryable], ['ConfigurationError', true]);
      assert.match(e.message, /broken\/flags\.json is not valid JSON/);
      return true;
    });
    assert.equal(await readFile(broken, 'utf8'), '{ "flags": { "x": ');
  });
});
