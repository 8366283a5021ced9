// Times as the viewer reads them: in the time zone they picked (kept in this browser), by default their own.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export const ZONES = [
  'local',
  'UTC',
  'America/New_York',
  'America/Los_Angeles',
  'Europe/London',
  'Europe/Paris',
  'Asia/Kolkata',
  'Asia/Tokyo',
  'Australia/Sydney',
];
const KEY = 'rearguard.timezone';

export function savedZone(): string {
  try {
    const z = localStorage.getItem(KEY);
    return z && ZONES.includes(z) ? z : 'local';
  } catch {
    return 'local';
  }
}

export function saveZone(zone: string): void {
  try {
    localStorage.setItem(KEY, zone);
  } catch {
    // private mode: the choice lasts for this page only
  }
}

export const ZoneContext = createContext('local');

/** The IANA zone to format in: the picked one, or the browser's. */
export const resolveZone = (zone: string): string => (zone === 'local' ? Intl.DateTimeFormat().resolvedOptions().timeZone : zone);

export function useTime(): (iso: string | undefined, withDate?: boolean) => string {
  const zone = resolveZone(useContext(ZoneContext));
  return (iso, withDate = false) => {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return new Intl.DateTimeFormat(undefined, {
      timeZone: zone,
      ...(withDate ? { year: 'numeric', month: 'short', day: 'numeric' } : {}),
      hour: '2-digit',
      minute: '2-digit',
      second: withDate ? undefined : '2-digit',
      timeZoneName: 'short',
    }).format(d);
  };
}
