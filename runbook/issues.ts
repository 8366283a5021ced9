// Turns zod issues into the `path: message` lines every user-facing validation error uses,
// e.g. `spec.steps[1].deployment: Required`.
import type { z } from 'zod';

export type PathSegment = PropertyKey;

/** Keys that read unambiguously after a dot; anything else (spaces, dots, newlines, ':') is quoted: `headers["a b"]`. */
const PLAIN_KEY = /^[A-Za-z0-9_$-]+$/;

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && PLAIN_KEY.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out || '(root)';
}

/** zod's default texts are written for developers; these are for someone editing a YAML file. */
export const friendlyErrors: z.core.$ZodErrorMap = (iss) => {
  if (iss.code === 'invalid_type' && iss.input === undefined) return 'Required';
  if (iss.code === 'invalid_type') return `expected ${iss.expected}, got ${describeValue(iss.input)}`;
  if (iss.code === 'invalid_value' && iss.values.length > 0) return `expected one of ${iss.values.map(String).join(', ')}`;
  if (iss.code === 'too_small' && iss.origin === 'number') return `expected a number ${iss.inclusive ? '>=' : '>'} ${String(iss.minimum)}`;
  if (iss.code === 'too_big' && iss.origin === 'number') return `expected a number ${iss.inclusive ? '<=' : '<'} ${String(iss.maximum)}`;
  if (iss.code === 'too_small' && iss.origin === 'array') return `expected at least ${String(iss.minimum)} item(s)`;
  return undefined;
};

/** A value as a message shows it: `a list`, `number 300`, `string "soon"` (long strings shortened). */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${typeof v === 'bigint' || typeof v === 'symbol' ? String(v) : JSON.stringify(v)}`;
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
