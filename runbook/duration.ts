// Durations as users write them in runbooks and on the command line: `90s`, `5m`, `2h`, `3d`,
// or combined (`1h30m`). Pure and deterministic: imported by workflows, activities and the client.

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_RE = /^(?:\d+(?:ms|s|m|h|d))+$/;
const PART_RE = /(\d+)(ms|s|m|h|d)/g;

export const DURATION_HINT = 'expected a duration like 90s, 5m, 2h';

export function isDuration(text: string): boolean {
  return DURATION_RE.test(text);
}

/** Milliseconds in a duration string; throws on anything else (validate first with isDuration). */
export function parseDuration(text: string): number {
  if (!isDuration(text)) throw new Error(`${JSON.stringify(text)}: ${DURATION_HINT}`);
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART_RE)) {
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  return total;
}

/** Compact human form, e.g. 330000 -> "5m30s"; negative values are shown with a leading "-". */
export function formatDuration(ms: number): string {
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('') || '0s';
}
