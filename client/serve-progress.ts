// `rearguard serve`'s view of running rollbacks for /metrics: how many are in each phase, and how long the oldest
// approval has been waiting (for the "approval pending too long" alert, deploy/prometheus/). Read from visibility
// (each rollback's memo: phase and since, workflows/kit/progress.ts), cluster-wide, by a refresh every 15 s in the
// background: a scrape never waits for Temporal, and a scrape storm never reaches it. A rollback started before
// progress-memo shows phase `unknown`.
import type { Client } from '@temporalio/client';
import { Gauge, type Registry } from 'prom-client';
import { listRollbacks } from '../api/rollbacks.js';

/** How often visibility is read. */
const REFRESH_MS = 15_000;
/** At most this many running rollbacks are read per refresh (more is an incident of its own). */
const LIMIT = 1_000;

export class RollbackProgress {
  private rows: { phase: string; since?: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly refreshFailures: Gauge;

  constructor(
    private readonly client: Client,
    registry: Registry,
    private readonly refreshMs = REFRESH_MS,
  ) {
    const rows = () => this.rows;
    new Gauge({
      name: 'rearguard_rollbacks_running',
      help: 'Running rollbacks, by phase (from visibility, refreshed every 15 s)',
      labelNames: ['phase'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const r of rows()) this.inc({ phase: r.phase });
      },
    });
    new Gauge({
      name: 'rearguard_approval_oldest_pending_seconds',
      help: 'How long the rollback that has waited longest for its approval has been waiting (0: none waits)',
      registers: [registry],
      collect() {
        const since = rows()
          .filter((r) => r.phase === 'awaiting-approval' && r.since !== undefined)
          .map((r) => r.since!);
        this.set(since.length ? (Date.now() - Math.min(...since)) / 1000 : 0);
      },
    });
    this.refreshFailures = new Gauge({
      name: 'rearguard_serve_visibility_stale',
      help: '1 when the last read of running rollbacks from Temporal failed (the phase gauges keep the last good read)',
      registers: [registry],
    });
  }

  start(): void {
    if (this.timer) return;
    const tick = async () => {
      await this.refresh();
      this.timer = setTimeout(() => void tick(), this.refreshMs).unref();
    };
    void tick();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  async refresh(): Promise<void> {
    try {
      const running = await listRollbacks(this.client, { limit: LIMIT });
      this.rows = running.map((r) => ({
        phase: typeof r.phase === 'string' ? r.phase : 'unknown',
        ...(typeof r.since === 'string' && !Number.isNaN(Date.parse(r.since)) ? { since: Date.parse(r.since) } : {}),
      }));
      this.refreshFailures.set(0);
    } catch {
      this.refreshFailures.set(1);
    }
  }
}
