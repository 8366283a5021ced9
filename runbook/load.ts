// Reading a runbook file: YAML syntax errors carry line and column, schema errors carry the path.
// Nothing here throws for a user mistake; callers get a list of problems to print.
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { defaultName, runbookCrossChecks } from './cross-checks.js';
import { formatPath, friendlyErrors, issueLines } from './issues.js';
import { runbookSchema, type Runbook } from './schema.js';

/** `io` marks a file that could not be read at all, as opposed to one with invalid content. */
export type Loaded<T> = { ok: true; value: T } | { ok: false; problems: string[]; io?: true };

/** Far beyond any runbook or calendar, and far below what exhausts the parser's stack or memory. */
const MAX_YAML_BYTES = 1 << 20;
const MAX_YAML_DEPTH = 64;
const MAX_YAML_INDENT = 256;

/** Why text is too big or too deeply nested to parse safely, or undefined. */
function yamlLimits(text: string): string | undefined {
  if (text.length > MAX_YAML_BYTES) return `yaml: the file is larger than ${MAX_YAML_BYTES} characters`;
  let depth = 0;
  let quote: string | undefined;
  let line = 1;
  let column = 0;
  let indent = 0;
  let atLineStart = true;
  for (const ch of text) {
    column++;
    if (ch === '\n') {
      line++;
      column = 0;
      indent = 0;
      atLineStart = true;
      if (quote === "'") quote = undefined;
      continue;
    }
    if (atLineStart && (ch === ' ' || ch === '\t' || ch === '-')) {
      if (++indent > MAX_YAML_INDENT) return `line ${line}, column ${indent}: nested too deeply (more than ${MAX_YAML_INDENT} columns of indentation)`;
      continue;
    }
    atLineStart = false;
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[' || ch === '{') {
      if (++depth > MAX_YAML_DEPTH) return `line ${line}, column ${column}: nested too deeply (more than ${MAX_YAML_DEPTH} levels of [ and {)`;
    } else if ((ch === ']' || ch === '}') && depth > 0) depth--;
  }
  return undefined;
}

/** Parses YAML text into plain data; syntax errors become `line L, column C: message`. */
export function parseYaml(text: string): Loaded<unknown> {
  // Deep nesting makes the parser recurse until the stack runs out: refused before parsing.
  const limit = yamlLimits(text);
  if (limit) return { ok: false, problems: [limit] };
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const where = pos ? `line ${pos.line}, column ${pos.col}` : 'yaml';
        return `${where}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`;
      }),
    };
  }
  try {
    return { ok: true, value: doc.toJS() };
  } catch (err) {
    // e.g. aliases that would expand without bound ("billion laughs"): refused, not thrown at the caller.
    return { ok: false, problems: [`yaml: ${String((err as Error).message ?? err).split('\n')[0]}`] };
  }
}

export function validateRunbook(data: unknown): Loaded<Runbook> {
  const parsed = runbookSchema.safeParse(data, { error: friendlyErrors });
  const cross = runbookCrossChecks(data).map((p) => `${formatPath(p.path)}: ${p.message}`);
  if (!parsed.success || cross.length > 0) {
    return { ok: false, problems: [...(parsed.success ? [] : issueLines(parsed.error.issues)), ...cross] };
  }
  // Every step gets a stable name: status, audit and idempotency keys refer to steps by it.
  // Names are unique, generated ones included (runbookCrossChecks refuses a collision).
  const steps = parsed.data.spec.steps.map((s, i) => ({ ...s, name: s.name ?? defaultName(s.type, i) }));
  const verify = parsed.data.spec.verify.map((c, i) => ({ ...c, name: c.name ?? defaultName(c.type, i) }));
  return { ok: true, value: { ...parsed.data, spec: { ...parsed.data.spec, steps, verify } } };
}

export function parseRunbook(text: string): Loaded<Runbook> {
  const yaml = parseYaml(text);
  return yaml.ok ? validateRunbook(yaml.value) : yaml;
}

/**
 * Reads a YAML document file for `what` ("runbook", "calendar"): the text, or a failure that names the file
 * and says what is wrong in words (not an errno), marked `io` so callers tell it from validation problems.
 */
export async function readDocumentFile(file: string, what: string): Promise<{ ok: true; text: string } | Extract<Loaded<never>, { ok: false }>> {
  try {
    return { ok: true, text: await readFile(file, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? `is a directory, expected a ${what} file`
          : code === 'EACCES'
            ? 'permission denied'
            : String(err);
    return { ok: false, problems: [`${file}: ${why}`], io: true };
  }
}

export async function loadRunbook(file: string): Promise<Loaded<Runbook>> {
  const read = await readDocumentFile(file, 'runbook');
  return read.ok ? parseRunbook(read.text) : read;
}
