// `--runbook NAME|FILE`: a reviewed runbook of the worker's catalog by name (production), or a local file
// (development, and environments the catalog's policy allows local runbooks in; the worker decides).
import { stat } from 'node:fs/promises';
import { catalogRunbook } from '../api/catalog.js';
import type { CatalogRef } from '../runbook/catalog.js';
import { DNS1123_SUBDOMAIN } from '../runbook/names.js';
import type { Runbook } from '../runbook/schema.js';
import type { CliContext } from './context.js';
import { badInput } from './errors.js';
import { readRunbookOrFail } from './actions/runbook.js';

export interface ChosenRunbook {
  runbook: Runbook;
  /** Set for a catalog runbook: what the workflow is told to load (name and the digest seen here). */
  catalog?: CatalogRef & { source: string; revision: string };
}

const looksLikeFile = (arg: string): boolean => arg.includes('/') || /\.ya?ml$/i.test(arg);

/** Reads a runbook file, or asks the worker's catalog for the runbook of that name. */
export async function chooseRunbook(c: CliContext, arg: string, flag = '--runbook'): Promise<ChosenRunbook> {
  const isFile =
    looksLikeFile(arg) ||
    (await stat(arg).then(
      (s) => s.isFile(),
      () => false,
    ));
  if (isFile) return { runbook: await readRunbookOrFail(arg) };
  if (!DNS1123_SUBDOMAIN.test(arg) || arg.length > 253)
    throw badInput(
      `${flag}: expected the name of a catalog runbook (such as payments-prod) or a runbook file (path ending in .yaml), got ${JSON.stringify(arg.slice(0, 60))}`,
    );
  const entry = await catalogRunbook(await c.connect(), c.opts.taskQueue, arg);
  return { runbook: entry.runbook, catalog: { name: entry.name, digest: entry.digest, source: entry.source, revision: entry.revision } };
}

/** The catalog part of a workflow input: name and digest only. */
export const catalogRef = (c: ChosenRunbook['catalog']): CatalogRef | undefined => (c ? { name: c.name, digest: c.digest! } : undefined);
