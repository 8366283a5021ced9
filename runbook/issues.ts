// Turns zod issues into the `path: message` lines every user-facing validation error uses,
// e.g. `spec.steps[1].deployment: Required`.
import type { z } from 'zod';

export type PathSegment = PropertyKey;

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(root)';
}

/** zod's default texts are written for developers; these are for someone editing a YAML file. */
export const friendlyErrors: z.core.$ZodErrorMap = (iss) => {
  if (iss.code === 'invalid_type' && iss.input === undefined) return 'Required';
  if (iss.code === 'invalid_type') return `expected ${iss.expected}, got ${describe(iss.input)}`;
  if (iss.code === 'invalid_value' && iss.values.length > 0) return `expected one of ${iss.values.map(String).join(', ')}`;
  if (iss.code === 'too_small' && iss.origin === 'number') return `expected a number ${iss.inclusive ? '>=' : '>'} ${String(iss.minimum)}`;
  if (iss.code === 'too_big' && iss.origin === 'number') return `expected a number ${iss.inclusive ? '<=' : '<'} ${String(iss.maximum)}`;
  if (iss.code === 'too_small' && iss.origin === 'array') return `expected at least ${String(iss.minimum)} item(s)`;
  return undefined;
};

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

export function issueLines(issues: readonly z.core.$ZodIssue[], prefix: readonly PathSegment[] = []): string[] {
  const lines: string[] = [];
  for (const iss of issues) {
    const path = [...prefix, ...iss.path];
    if (iss.code === 'unrecognized_keys') {
      for (const key of iss.keys) lines.push(`${formatPath([...path, key])}: unknown key`);
    } else {
      lines.push(`${formatPath(path)}: ${iss.message}`);
    }
  }
  return [...new Set(lines)];
}
