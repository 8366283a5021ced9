// What the freeze gate sees of this window, kept current in the gate's registry (workflows/gate-registry.ts).
// Two small loops: one counts every change of the gate entry in the same workflow task as the change (so the
// `gateRevision` a Query returns right after an Update already counts it), the other publishes the latest
// entry through a local activity, one at a time, newest wins. When the run ends the entry is withdrawn.
import { CancellationScope, condition, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import { gateEntryOf, type GateEntry } from '../../runbook/gate-view.js';
import type { Activities } from '../../activities/index.js';
import type { FreezeRun } from './state.js';

// Retried until it lands (the registry is the gate's only view of this freeze); quick, so local.
const { publishGate } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
});

export class GateFeed {
  private revision: number;
  private published: number;
  private seen: string | undefined;
  private withdrawn = false;
  private busy = false;

  constructor(
    private readonly f: FreezeRun,
    carriedRevision: number | undefined,
  ) {
    this.revision = this.published = carriedRevision ?? 0;
    this.f.state.gateChain = workflowInfo().firstExecutionRunId;
  }

  private entry(): GateEntry | null {
    return this.withdrawn ? null : gateEntryOf(this.f.state, this.f.lifted);
  }

  /** Starts both loops; from now on every change is published, a cancelled freeze's last changes included. */
  start(): void {
    void CancellationScope.nonCancellable(() => Promise.all([this.count(), this.publish()]));
  }

  private async count(): Promise<void> {
    for (;;) {
      await condition(() => JSON.stringify(this.entry()) !== this.seen);
      this.seen = JSON.stringify(this.entry());
      this.f.state.gateRevision = ++this.revision;
    }
  }

  private async publish(): Promise<void> {
    for (;;) {
      await condition(() => this.revision !== this.published);
      const revision = this.revision;
      const entry = this.entry();
      this.busy = true;
      await publishGate({ id: this.f.workflowId, chain: this.f.state.gateChain!, revision, entry });
      this.busy = false;
      this.published = revision;
    }
  }

  /** The last revision published (carried across continue-as-new). */
  carried(): number {
    return this.published;
  }

  /** Waits until the registry has the current entry (before continuing as new). */
  async flush(): Promise<void> {
    await condition(() => !this.busy && this.published === this.revision && this.seen === JSON.stringify(this.entry()));
  }

  /** The run is over: withdraws the entry and waits until the registry has dropped it. */
  async withdraw(): Promise<void> {
    this.withdrawn = true;
    await this.flush();
  }
}
