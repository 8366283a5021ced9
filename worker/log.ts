// The worker's log: one JSON object per line on stderr (pino), the same shape as `rearguard serve`'s
// (client/http-errors.ts): `level` (trace, debug, info, warn, error), `time` (ISO 8601), `msg`, and the fields of
// the line. The Temporal SDK's lines come through `TemporalJsonLogger`, with what the SDK knows of each: workflow
// and activity lines carry `workflowId`, `runId`, `workflowType`, and activity lines `activityType` and `attempt`.
// REARGUARD_LOG_LEVEL filters the SDK's lines; the worker's own (start, stop) are always written.
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import { destination, pino, stdTimeFunctions, type Logger as Pino } from 'pino';

const ORDER: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

export function jsonLog(level: LogLevel): Pino {
  const lowest = ORDER[Math.min(ORDER.indexOf(level), ORDER.indexOf('INFO'))];
  return pino(
    {
      level: lowest.toLowerCase(),
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      base: { pid: process.pid },
    },
    // Synchronous: a line written just before the process exits (a fatal error, SIGTERM) is not lost.
    destination({ fd: 2, sync: true }),
  );
}

/** Plain fields from the SDK's metadata: symbol keys (its internal timestamp) dropped, errors as message and type. */
function fields(meta: LogMetadata | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(meta ?? {})) {
    // The task token completes the activity on the server's behalf: no business in a log.
    if (k === 'taskToken') continue;
    // Activity lines name the run workflowRunId, workflow lines runId: one name, so one query finds both.
    out[k === 'workflowRunId' ? 'runId' : k] = v instanceof Error ? { message: v.message, type: v.name } : v;
  }
  return out;
}

/** The Temporal SDK's Logger over pino, filtering at `level`. */
export class TemporalJsonLogger implements Logger {
  private readonly min: number;
  constructor(
    private readonly out: Pino,
    level: LogLevel,
  ) {
    this.min = ORDER.indexOf(level);
  }
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (ORDER.indexOf(level) < this.min) return;
    this.out[level.toLowerCase() as 'info'](fields(meta), message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
