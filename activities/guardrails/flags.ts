// Feature-flag guardrail on an OpenFeature flagd flag-definition file (https://flagd.dev/reference/flag-definitions/)
// on the worker.
//
// Convention: a flag is guarded when its own (flag-level) `metadata.tags` is a string whose
// comma-separated items include the guardrail's freezeTag, e.g. "metadata": { "tags": "feature,checkout" }.
// Flag-set metadata is not looked at (flagd merges it into every flag; a freeze must not pin them all).
//
// While frozen a guarded flag is pinned to its off variant (the variant named `off`, else the first
// whose value is `false`; with neither the flag is reported as skipped): `defaultVariant` set to it,
// `targeting` removed (it could send users to `on`), and `state` set to ENABLED (a DISABLED flag makes
// applications fall back to their code default, which may be on). Its markers, in the flag's metadata
// (flagd allows only strings, numbers and booleans there, hence a JSON string):
//   rearguard.io/frozen-by  the freezes holding the pin, comma-separated
//   rearguard.io/saved      {"keys":[the flag's keys in order],"state"?,"defaultVariant"?,"targeting"?}:
//                           what the pin replaced, a field left out when it was absent
// When the last holder releases it those three fields are put back exactly (key order too), the
// markers removed; everything else in the file, including edits made during the freeze, is kept.
// The file is rewritten atomically (a temp file in the same directory, fsync, rename) with 2-space
// indentation and a trailing newline, and only when something changes.
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { GuardrailChange, Guardrails } from '../../runbook/freeze.js';
import { configurationError } from '../errors.js';
import { FROZEN_BY, change, formatHolders, holdersOf } from './common.js';

export type FlagsGuardrail = NonNullable<Guardrails['flags']>;

export const SAVED = 'rearguard.io/saved';
const PINNED_FIELDS = ['state', 'defaultVariant', 'targeting'] as const;
/** A temp file older than this was left by a writer that died (a write takes milliseconds). */
const STALE_LOCK_MS = 10_000;

type Flag = Record<string, unknown> & { metadata?: Record<string, unknown>; variants?: Record<string, unknown> };
type FlagFile = Record<string, unknown> & { flags: Record<string, unknown> };
interface Saved {
  keys: string[];
  state?: unknown;
  defaultVariant?: unknown;
  targeting?: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function isTagged(flag: Flag, tag: string): boolean {
  const tags = flag.metadata?.tags;
  return (
    typeof tags === 'string' &&
    tags
      .split(',')
      .map((t) => t.trim())
      .includes(tag)
  );
}

export function offVariant(flag: Flag): string | undefined {
  const variants = isObject(flag.variants) ? flag.variants : {};
  if ('off' in variants) return 'off';
  return Object.keys(variants).find((k) => variants[k] === false);
}

export async function applyFlags(cfg: FlagsGuardrail, freezeId: string): Promise<GuardrailChange[]> {
  return editFlagFile(cfg.file, (doc) => {
    const changes: GuardrailChange[] = [];
    let modified = false;
    for (const [key, value] of Object.entries(doc.flags)) {
      if (!isObject(value)) continue;
      const flag = value as Flag;
      if (!isTagged(flag, cfg.freezeTag)) continue;
      const target = `flag ${key}`;
      const metadata = flag.metadata!;
      const holders = holdersOf(metadata[FROZEN_BY]);
      if (holders.includes(freezeId)) {
        changes.push(change('flags', target, 'already pinned to off by this freeze'));
        continue;
      }
      if (holders.length) {
        metadata[FROZEN_BY] = formatHolders([...holders, freezeId]);
        modified = true;
        changes.push(change('flags', target, `already pinned to off by ${holders.join(', ')}; this freeze holds it too`));
        continue;
      }
      const off = offVariant(flag);
      if (off === undefined) {
        changes.push(change('flags', target, `skipped: tagged ${cfg.freezeTag} but has no off variant (named "off" or valued false)`));
        continue;
      }
      const saved: Saved = { keys: Object.keys(flag) };
      for (const f of PINNED_FIELDS) if (f in flag) saved[f] = flag[f];
      flag.state = 'ENABLED';
      flag.defaultVariant = off;
      delete flag.targeting;
      metadata[FROZEN_BY] = freezeId;
      metadata[SAVED] = JSON.stringify(saved);
      modified = true;
      const was = [saved.defaultVariant !== undefined ? `default ${JSON.stringify(saved.defaultVariant)}` : '', 'targeting' in saved ? 'with targeting' : '']
        .filter(Boolean)
        .join(', ');
      changes.push(change('flags', target, `pinned to off (variant ${off}${was ? `; was ${was}` : ''})`));
    }
    return { changes, modified };
  });
}

export async function restoreFlags(cfg: FlagsGuardrail, freezeId: string): Promise<GuardrailChange[]> {
  return editFlagFile(cfg.file, (doc) => {
    const changes: GuardrailChange[] = [];
    let modified = false;
    // Marker-driven: every flag this freeze holds, tagged or not (a tag removed during the freeze).
    for (const [key, value] of Object.entries(doc.flags)) {
      if (!isObject(value) || !isObject(value.metadata)) continue;
      const flag = value as Flag;
      const metadata = flag.metadata!;
      const holders = holdersOf(metadata[FROZEN_BY]);
      if (!holders.includes(freezeId)) continue;
      const target = `flag ${key}`;
      modified = true;
      const rest = holders.filter((h) => h !== freezeId);
      if (rest.length) {
        metadata[FROZEN_BY] = formatHolders(rest);
        changes.push(change('flags', target, `still pinned to off: held by ${rest.join(', ')}`));
        continue;
      }
      let saved: Saved | undefined;
      try {
        const parsed: unknown = JSON.parse(String(metadata[SAVED]));
        if (isObject(parsed) && Array.isArray(parsed.keys)) saved = parsed as unknown as Saved;
      } catch {
        saved = undefined;
      }
      delete metadata[FROZEN_BY];
      delete metadata[SAVED];
      if (!saved) {
        changes.push(change('flags', target, `released, but ${SAVED} is missing or invalid: left pinned to off, restore it by hand`));
        continue;
      }
      for (const f of PINNED_FIELDS) {
        if (f in saved) flag[f] = saved[f];
        else delete flag[f];
      }
      const ordered: Flag = {};
      for (const k of saved.keys) if (k in flag) ordered[k] = flag[k];
      for (const k of Object.keys(flag)) if (!(k in ordered)) ordered[k] = flag[k];
      doc.flags[key] = ordered;
      changes.push(
        change('flags', target, `unpinned (default ${JSON.stringify(saved.defaultVariant ?? null)}${'targeting' in saved ? ', targeting restored' : ''})`),
      );
    }
    return { changes, modified };
  });
}

// One edit at a time per file in this worker; the temp file doubles as a lock against other processes.
const queues = new Map<string, Promise<unknown>>();

function serialized<T>(file: string, work: () => Promise<T>): Promise<T> {
  const previous = queues.get(file) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(work);
  queues.set(file, next);
  void next.catch(() => undefined).finally(() => queues.get(file) === next && queues.delete(file));
  return next;
}

async function readFlagFile(file: string): Promise<{ text: string; doc: FlagFile }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw configurationError(`guardrails.flags: flag file ${file} does not exist`);
    if (code === 'EACCES' || code === 'EISDIR') throw configurationError(`guardrails.flags: cannot read flag file ${file}: ${(err as Error).message}`);
    throw ApplicationFailure.retryable(`guardrails.flags: cannot read flag file ${file}: ${(err as Error).message}`, 'FlagsFileUnavailable');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw configurationError(`guardrails.flags: flag file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc) || !isObject(doc.flags)) throw configurationError(`guardrails.flags: flag file ${file} is not a flagd flag definition: no "flags" object`);
  return { text, doc: doc as FlagFile };
}

async function editFlagFile(file: string, edit: (doc: FlagFile) => { changes: GuardrailChange[]; modified: boolean }): Promise<GuardrailChange[]> {
  return serialized(file, async () => {
    for (let attempt = 1; attempt <= 5; attempt++) {
      const { text, doc } = await readFlagFile(file);
      const { changes, modified } = edit(doc);
      if (!modified) return changes;
      if (await writeIfUnchanged(file, `${JSON.stringify(doc, null, 2)}\n`, text)) return changes;
    }
    throw ApplicationFailure.retryable(`guardrails.flags: flag file ${file} kept changing while Rearguard was writing it`, 'FlagsFileBusy');
  });
}

/**
 * Writes `content` to a temp file next to `file` (created exclusively: it is also the lock), fsyncs
 * it and renames it over `file`, unless `file` no longer holds `expected` (someone edited it since
 * it was read: false, read again). The directory is fsynced so the rename survives a power loss.
 */
async function writeIfUnchanged(file: string, content: string, expected: string): Promise<boolean> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.rearguard.tmp`);
  const mode = (await stat(file)).mode & 0o7777;
  let handle: import('node:fs/promises').FileHandle | undefined;
  for (let wait = 0; !handle; wait++) {
    try {
      handle = await open(tmp, 'wx', mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw configurationError(`guardrails.flags: cannot write next to ${file}: ${(err as Error).message}`);
      const age = Date.now() - ((await stat(tmp).catch(() => undefined))?.mtimeMs ?? 0);
      if (age > STALE_LOCK_MS) {
        await unlink(tmp).catch(() => undefined); // left by a writer that died
      } else if (wait >= 50) {
        throw ApplicationFailure.retryable(`guardrails.flags: ${tmp} exists: another writer is editing ${file}`, 'FlagsFileBusy');
      } else {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  let renamed = false;
  try {
    await handle.writeFile(content, 'utf8');
    await handle.chmod(mode); // open's mode is filtered by the umask
    await handle.sync();
    await handle.close();
    handle = undefined;
    if ((await readFile(file, 'utf8')) !== expected) return false;
    await rename(tmp, file);
    renamed = true;
  } finally {
    await handle?.close().catch(() => undefined);
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
  const d = await open(dir, 'r');
  try {
    await d.sync().catch(() => undefined);
  } finally {
    await d.close();
  }
  return true;
}
