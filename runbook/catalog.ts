// The shapes of the runbook catalog (activities/catalog.ts reads it on the worker): what crosses the
// workflow boundary when a rollback, plan, guard or drill names a catalog runbook instead of sending one.
import type { Runbook } from './schema.js';

export interface CatalogEntry {
  name: string;
  /** The file, relative to the catalog's root. */
  file: string;
  /** `sha256:<hex>` of the file's bytes (what `sha256sum` prints for it). */
  digest: string;
  runbook: Runbook;
}

/** What `rearguard catalog list` and the alert intake see: every runbook with its digest, and the catalog's state. */
export interface CatalogIndex {
  /** The directory, or git:REPO@REF[:PATH]. */
  source: string;
  /** The git commit read, or a digest of the directory's files. */
  revision: string;
  readAt: string;
  /** The Policy's metadata.name. */
  policy: string;
  /** Problems of the last refresh that failed (the snapshot above stays in use). */
  problems: string[];
  runbooks: CatalogEntry[];
}

/** What a rollback (or plan) carries instead of a runbook body: the workflow loads it on the worker. */
export interface CatalogRef {
  name: string;
  /** The digest the requester saw; the workflow refuses a runbook whose content changed since. */
  digest?: string;
}

/** Where a run's runbook came from, recorded in its status and audit trail. */
export type RunbookOrigin = { catalog: string; revision: string; digest: string } | { local: true };
