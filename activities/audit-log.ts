// The audit trail: JSON lines, append-only, fsync'd. One write(2) per event on an O_APPEND file keeps
// concurrent writers (several workers on one volume) from interleaving lines; event IDs make a retried
// append a no-op, so a worker that dies after writing but before reporting cannot duplicate an event.
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditEvent } from '../runbook/types.js';

export class AuditLog {
  private ids: Set<string> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {}

  /** Appends the event unless an event with the same ID is already in the file. */
  append(event: AuditEvent): Promise<boolean> {
    const next = this.queue.then(() => this.appendNow(event));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async appendNow(event: AuditEvent): Promise<boolean> {
    this.ids ??= new Set((await readEvents(this.path)).map((e) => e.id));
    if (this.ids.has(event.id)) return false;
    await mkdir(dirname(this.path), { recursive: true });
    const file = await open(this.path, 'a', 0o640);
    try {
      await file.write(`${JSON.stringify(event)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    this.ids.add(event.id);
    return true;
  }
}

/** Every event in the file, oldest first. A torn last line (crash mid-write) is skipped. */
export async function readEvents(path: string): Promise<AuditEvent[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const events: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line) as AuditEvent);
    } catch {
      // Only the last line can be torn, and only by a crash during write; it is not a real event.
    }
  }
  return events;
}
