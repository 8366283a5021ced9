// How instants are shown to people: in a time zone they read (the caller's, or the one a window was written in).
import { DateTime } from 'luxon';

/** An ISO instant as `2026-11-26 00:00 EST`, in `zone` (default: this machine's). */
export function localTime(iso: string, zone = Intl.DateTimeFormat().resolvedOptions().timeZone): string {
  return DateTime.fromISO(iso, { zone: 'utc' }).setZone(zone).toFormat('yyyy-LL-dd HH:mm ZZZZ');
}
