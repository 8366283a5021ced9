// The bench's verdicts and its table: each figure judged against its goal, the ratio to its peer, and the
// one table `npm run bench` prints (scripts/bench/main.ts).
import type { Figure } from './types.js';

/** A number for notes and the table: whole numbers as they are and from 100 up, else 3 significant digits. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x) || Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

export interface FigureResult extends Figure {
  /** value / peer.value when both are in the same unit; for a figure that is itself a ratio (unit "x"), its value. */
  ratio?: number;
  /** undefined: no goal. */
  pass?: boolean;
}

export interface ScenarioResult {
  name: string;
  description: string;
  seconds: number;
  figures: FigureResult[];
  error?: string;
}

export function meets(value: number, goal: Figure['goal']): boolean | undefined {
  if (!goal) return undefined;
  if (!Number.isFinite(value)) return false;
  return goal.op === '<=' ? value <= goal.value : value >= goal.value;
}

export function judge(f: Figure): FigureResult {
  const ratio = f.unit === 'x' ? f.value : f.peer && f.peer.unit === f.unit && f.peer.value !== 0 ? f.value / f.peer.value : undefined;
  return { ...f, ...(ratio !== undefined ? { ratio } : {}), ...(f.goal ? { pass: meets(f.value, f.goal) } : {}) };
}

const withUnit = (v: number, unit: string) => (unit === 'x' ? `${num(v)}x` : `${num(v)} ${unit}`);

export function table(results: ScenarioResult[]): string {
  const header = ['scenario', 'figure', 'value', 'goal', 'peer', 'ratio', 'result'];
  const rows: string[][] = [];
  for (const r of results) {
    for (const f of r.figures)
      rows.push([
        r.name,
        f.name,
        withUnit(f.value, f.unit),
        f.goal ? `${f.goal.op} ${withUnit(f.goal.value, f.unit)}` : '',
        f.peer ? `${f.peer.name}: ${withUnit(f.peer.value, f.peer.unit)}` : '',
        f.ratio !== undefined ? `${num(f.ratio)}x` : '',
        f.pass === undefined ? '-' : f.pass ? 'pass' : 'MISS',
      ]);
    if (r.error) rows.push([r.name, 'scenario failed', r.error.split('\n')[0].slice(0, 100), '', '', '', 'FAIL']);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const notes = results.flatMap((r) => r.figures.filter((f) => f.note).map((f) => `  [${r.name}] ${f.name}: ${f.note}`));
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), ...(notes.length ? ['', 'notes:', ...notes] : [])].join('\n');
}
