// The audit trail: JSON lines, append-only, fsync'd, hash-chained. Whole lines in one write(2) on an O_APPEND file
// keep writers from interleaving lines (a log writes the events waiting for it as one group: one lock, one write,
// one fsync, however many rollbacks a worker runs at once); event IDs make a retried append a no-op, so a worker that dies after
// writing but before reporting cannot duplicate an event. A line torn by a crash or a full disk is closed off
// before the next event is written, so it can never merge with it; readers report such lines instead of hiding them.
//
// The chain: each appended event carries `prev`, the SHA-256 of the exact bytes of the previous event line of
// the file (without its newline), `sha256:<hex>`; the file's first event carries CHAIN_GENESIS. Blank lines and
// lines that are not events (a torn line) are not links of the chain. Several writers on one volume (worker
// processes, hosts sharing the volume) take turns through a lock file next to the audit file (`<file>.lock`,
// created with O_EXCL): under it a writer reads what was appended since its last look (new IDs, the last event
// line), then writes its line. `verifyAuditChain` walks the chain from the first line and names the first event
// that breaks it.
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditEvent } from '../runbook/types.js';
import { AppendLock } from './audit-lock.js';

export { auditFileFrom, defaultAuditFile } from './audit-path.js';

/** `prev` of the first event of a file. */
export const CHAIN_GENESIS = `sha256:${'0'.repeat(64)}`;

/** A link of the chain: the hash of one line's exact bytes, without its newline. */
export const lineHash = (line: Uint8Array): string => `sha256:${createHash('sha256').update(line).digest('hex')}`;

/** The event on a line, or the reason it is none. */
export function parseEvent(text: string): { event: AuditEvent } | { error: string } {
  try {
    const event = JSON.parse(text) as AuditEvent;
    if (typeof event?.id !== 'string' || typeof event.action !== 'string' || typeof event.time !== 'string') return { error: 'not an audit event' };
    return { event };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export const isBlank = (text: string): boolean => text.trim() === '';
const CHUNK = 1 << 20;
/** At most this many events in one write (a few hundred KiB at most). */
const MAX_GROUP = 500;

export interface AuditLogOptions {
  /** A lock file older than this is taken to be left by a writer that died (an append holds it for milliseconds). */
  lockStaleMs?: number;
  /** How long an append waits for the lock before it fails (and its activity is retried); below the activity's 30s timeout. */
  lockWaitMs?: number;
}

export class AuditLog {
  private ids = new Set<string>();
  /** The file read so far: its inode, and the end of its last complete line. */
  private inode: number | undefined;
  private readTo = 0;
  /** Hash of the last event line read: the next event's `prev`. */
  private head = CHAIN_GENESIS;
  /** Events waiting for the writer, in the order they were appended (across every caller of this log). */
  private waiting: { event: AuditEvent; done: (written: boolean) => void; failed: (err: unknown) => void }[] = [];
  private writing = false;
  private readonly lockStaleMs: number;
  private readonly lockWaitMs: number;

  constructor(
    readonly path: string,
    options: AuditLogOptions = {},
  ) {
    this.lockStaleMs = options.lockStaleMs ?? 10_000;
    this.lockWaitMs = options.lockWaitMs ?? 20_000;
  }

  /** Appends the event, chained to the file's last event, unless an event with the same ID is already in the file. */
  async append(event: AuditEvent): Promise<boolean> {
    return (await this.appendMany([event]))[0];
  }

  /**
   * Appends the events in order (each unless its ID is already in the file or earlier in the list); for each,
   * whether it was written. Group commit: everything waiting when the writer comes round (these events and other
   * callers', e.g. the rollbacks a worker runs at once) is written under one lock, with one write(2) and one fsync.
   */
  appendMany(events: AuditEvent[]): Promise<boolean[]> {
    const written = Promise.all(events.map((event) => new Promise<boolean>((done, failed) => this.waiting.push({ event, done, failed }))));
    this.drain();
    return written;
  }

  /** Writes the waiting events, a group at a time, until none is left; one writer per log. */
  private drain(): void {
    if (this.writing) return;
    this.writing = true;
    void (async () => {
      while (this.waiting.length > 0) {
        const group = this.waiting.splice(0, MAX_GROUP);
        try {
          const written = await this.appendNow(group.map((g) => g.event));
          group.forEach((g, i) => g.done(written[i]));
        } catch (err) {
          // The whole group failed (the lock, the disk): each caller's activity is retried.
          for (const g of group) g.failed(err);
        }
      }
      this.writing = false;
    })();
  }

  private async appendNow(events: AuditEvent[]): Promise<boolean[]> {
    await mkdir(dirname(this.path), { recursive: true });
    const lock = await AppendLock.acquire(`${this.path}.lock`, this.lockStaleMs, this.lockWaitMs);
    try {
      const file = await open(this.path, 'a+', 0o640);
      try {
        const torn = await this.catchUp(file);
        // Each line chains to the one before it: the file's last event line, then this group's own lines.
        let prev = this.head;
        const lines: string[] = [];
        const ids = new Set<string>();
        const written = events.map((event) => {
          if (this.ids.has(event.id) || ids.has(event.id)) return false;
          const line = JSON.stringify({ ...event, prev });
          prev = lineHash(Buffer.from(line, 'utf8'));
          lines.push(line);
          ids.add(event.id);
          return true;
        });
        if (lines.length === 0) return written;
        await lock.assertHeld();
        await file.write(`${torn ? '\n' : ''}${lines.join('\n')}\n`);
        await file.sync();
        // The lines are read back (the last becomes the head) on the next append, like any other writer's.
        for (const id of ids) this.ids.add(id);
        return written;
      } finally {
        await file.close();
      }
    } finally {
      await lock.release();
    }
  }

  /**
   * Reads the complete lines appended since the last look (the whole file the first time, or when it was
   * replaced or cut short): their IDs, and the last event line's hash. True when the file ends in a torn line.
   */
  private async catchUp(file: FileHandle): Promise<boolean> {
    const { ino, size } = await file.stat();
    if (ino !== this.inode || size < this.readTo) {
      this.inode = ino;
      this.readTo = 0;
      this.ids = new Set();
      this.head = CHAIN_GENESIS;
    }
    let carry = Buffer.alloc(0);
    let pos = this.readTo;
    while (pos < size) {
      const chunk = Buffer.alloc(Math.min(CHUNK, size - pos));
      const { bytesRead } = await file.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const data = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let start = 0;
      for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a, start)) {
        const line = data.subarray(start, nl);
        const text = line.toString('utf8');
        const parsed = isBlank(text) ? undefined : parseEvent(text);
        if (parsed && 'event' in parsed) {
          this.ids.add(parsed.event.id);
          this.head = lineHash(line);
        }
        start = nl + 1;
      }
      this.readTo += start;
      carry = Buffer.from(data.subarray(start));
    }
    return carry.length > 0;
  }
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
    if (isBlank(line)) return;
    const parsed = parseEvent(line);
    if ('error' in parsed) {
      unreadable.push({ line: i + 1, excerpt: line.slice(0, 80), error: parsed.error });
      return;
    }
    if (seen.has(parsed.event.id)) {
      duplicates++;
      return;
    }
    seen.add(parsed.event.id);
    events.push(parsed.event);
  });
  return { exists: true, events, unreadable, duplicates };
}

/** Every readable event in the file, oldest first, each ID once (a missing file has none). */
export async function readEvents(path: string): Promise<AuditEvent[]> {
  return (await readAuditFile(path)).events;
}

// ---- Verifying the chain -------------------------------------------------------------------------------
