// The shape every `npm run bench` scenario returns: figures, each with its goal and, where a peer was
// measured in the same run (kubectl, /healthz, one rollback alone), the peer's figure and the ratio.
// scripts/bench/main.ts prints them as one table, writes them as JSON and, with --check, exits non-zero
// when a goal is missed.

export interface Goal {
  /** The figure must be at most (`<=`) or at least (`>=`) this value. */
  op: '<=' | '>=';
  value: number;
}

export interface Figure {
  /** What was measured, e.g. "gate: requests/s (100 freezes, 50 connections)". */
  name: string;
  value: number;
  /** "ms", "req/s", "MB", "x" (a ratio), "count". */
  unit: string;
  goal?: Goal;
  /** The peer measured in the same run, when the figure is a ratio or is read against one. */
  peer?: { name: string; value: number; unit: string };
  /** Free text: sample size, spread, why a goal is missed. */
  note?: string;
}

export interface BenchContext {
  /** Directory for this run's scratch files (audit files, runbooks, server state). */
  workDir: string;
  /** Progress lines go here (stderr), never into the table. */
  log(line: string): void;
}

export interface Scenario {
  /** Short name used by `--only NAME` (e.g. gate, cli, rollback-kubectl, alerts, concurrency, scale, worker-start). */
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}
