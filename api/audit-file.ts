// The audit trail: JSON lines, append-only, fsync'd. One write(2) per event on an O_APPEND file keeps
// concurrent writers (several workers on one volume) from interleaving lines; event IDs make a retried
// append a no-op, so a worker that dies after writing but before reporting cannot duplicate an event.
// A line torn by a crash or a full disk is closed off before the next event is written, so it can never
// merge with it; readers report such lines instead of hiding them.
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
    const file = await open(this.path, 'a+', 0o640);
    try {
      await file.write(`${(await endsTorn(file)) ? '\n' : ''}${JSON.stringify(event)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    this.ids.add(event.id);
    return true;
  }
}

/** True when the file's last byte is not a newline: the previous write was cut short. */
async function endsTorn(file: import('node:fs/promises').FileHandle): Promise<boolean> {
  const { size } = await file.stat();
  if (size === 0) return false;
  const last = Buffer.alloc(1);
  await file.read(last, 0, 1, size - 1);
  return last[0] !== 0x0a;
}

export interface UnreadableLine {
  /** 1-based line number in the file. */
  line: number;
  /** The start of the line, for the person who repairs the file. */
  excerpt: string;
  error: string;
}

export interface AuditFile {
  /** False when the file does not exist (a wrong path is not the same as "nothing happened"). */
  exists: boolean;
  /** Events in file order, each ID once (two workers that both wrote an event before seeing the other's). */
  events: AuditEvent[];
  unreadable: UnreadableLine[];
  /** Events whose ID appeared more than once and are shown once. */
  duplicates: number;
}

export async function readAuditFile(path: string): Promise<AuditFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, events: [], unreadable: [], duplicates: 0 };
    throw err;
  }
  const events: AuditEvent[] = [];
  const unreadable: UnreadableLine[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let event: AuditEvent;
    try {
      event = JSON.parse(line) as AuditEvent;
      if (typeof event?.id !== 'string' || typeof event.action !== 'string' || typeof event.time !== 'string') throw new Error('not an audit event');
    } catch (err) {
      unreadable.push({ line: i + 1, excerpt: line.slice(0, 80), error: (err as Error).message });
      return;
    }
    if (seen.has(event.id)) {
      duplicates++;
      return;
    }
    seen.add(event.id);
    events.push(event);
  });
  return { exists: true, events, unreadable, duplicates };
}

/** Every readable event in the file, oldest first, each ID once (a missing file has none). */
export async function readEvents(path: string): Promise<AuditEvent[]> {
  return (await readAuditFile(path)).events;
}
