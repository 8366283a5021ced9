// Output formats: text for people, json and yaml for scripts (`-o json|yaml`, `--json` = `-o json`).
// Every machine-readable line a command prints is built as JSON (`ctx.out(JSON.stringify(...))`); yaml re-renders
// each such line as one YAML document of a stream, so both formats carry the same fields and cannot drift apart.
import { createRequire } from 'node:module';

// The YAML library is loaded on the first YAML document only: every command's start (the gate's above all) stays as fast.
const yaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

export const OUTPUT_FORMATS = ['text', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

const isFormat = (v: string | undefined): v is OutputFormat => (OUTPUT_FORMATS as readonly string[]).includes(v ?? '');

/**
 * The format a command line asks for, read before commander parses it so that usage mistakes are reported in it
 * too. Global options may come anywhere before `--`; an unknown value is left for commander to refuse.
 */
export function requestedFormat(args: string[]): OutputFormat {
  let format: OutputFormat = 'text';
  for (let i = 0; i < args.length && args[i] !== '--'; i++) {
    const a = args[i];
    const value = a === '-o' || a === '--output' ? args[i + 1] : a.startsWith('--output=') ? a.slice(9) : /^-o[a-z]/.test(a) ? a.slice(2) : undefined;
    if (a === '--json' && format === 'text') format = 'json';
    else if (isFormat(value)) format = value;
  }
  return format;
}

/** The global flags' format: `--json` and `-o` agree or one is absent. */
export function outputFormat(opts: { json?: boolean; output?: string }): OutputFormat | { conflict: string } {
  if (opts.output !== undefined && !isFormat(opts.output)) return { conflict: `-o/--output: expected text, json or yaml, got ${JSON.stringify(opts.output)}` };
  if (opts.json && opts.output !== undefined && opts.output !== 'json') {
    return { conflict: `--json: asks for JSON, but -o asks for ${opts.output}: give one of them` };
  }
  return opts.output ?? (opts.json ? 'json' : 'text');
}

/**
 * A document as the format prints it: yaml starts each with `---`, so a stream of them parses as one stream. YAML 1.1
 * quoting, so that 1.1 parsers (PyYAML, go-yaml v2, Ruby) read timestamps, yes/on and 1:20 as the strings they are;
 * only the stringifier's own final newline is dropped (a `|+` block's trailing newlines are content).
 */
export function renderValue(value: unknown, format: OutputFormat): string {
  if (format !== 'yaml') return JSON.stringify(value);
  const text = yaml().stringify(value, { lineWidth: 0, version: '1.1' });
  return `---\n${text.endsWith('\n') ? text.slice(0, -1) : text}`;
}

/** One line a command printed, in the format asked for. A line that is not JSON (an .ics export) goes out as it is. */
export function renderLine(line: string, format: OutputFormat): string {
  if (format !== 'yaml') return line;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return line;
  }
  return renderValue(value, format);
}
