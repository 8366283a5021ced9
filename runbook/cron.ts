// Five-field cron expressions as Temporal Schedules read them (minute hour day-of-month month day-of-week),
// validated the same way wherever a person writes one (a calendar's recurring window, a drill schedule).
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';

/** A cron field: `example` is quoted in the message for a wrong field count; `invalid` words a parse error. */
export const cronField = (example: string, invalid: (error: string) => string) =>
  z.string().superRefine((s, ctx) => {
    if (s.trim().split(/\s+/).length !== 5) {
      ctx.addIssue({ code: 'custom', message: `expected a five-field cron expression such as ${example}` });
      return;
    }
    try {
      CronExpressionParser.parse(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: invalid((err as Error).message) });
    }
  });
