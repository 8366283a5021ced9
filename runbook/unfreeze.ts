// Gradual unfreeze: the shapes and gate helpers of unfreeze-model.ts (what workflows import), plus what the CLI
// needs on top: the `--gate` text people write, parsed and validated with the runbook schema, and ladders.
import type { FreezeState } from './freeze.js';
import { friendlyErrors, issueLines } from './issues.js';
import { check as checkSchema, type Check } from './schema.js';

export * from './unfreeze-model.js';

export const GATE_SYNTAX = "expected a Prometheus query, then < or > and a number, optionally `for` a duration: 'QUERY < 0.01' or 'QUERY > 100 for 2m'";

/**
 * `--gate 'QUERY < 0.01'`, `--gate 'QUERY > 5 for 2m'`: the last `<` or `>` followed only by a number
 * (and an optional `for DURATION`) splits the query from its threshold, so comparisons inside PromQL stay.
 */
export function parseGate(text: string): Check | string {
  const m = /^(.*?)\s*(<=|>=|==|!=|<|>)\s*(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*(?:\s+for\s+(\S+))?\s*$/is.exec(text);
  if (!m || !m[1].trim()) return GATE_SYNTAX;
  const [, query, op, threshold, forDuration] = m;
  if (op !== '<' && op !== '>') return `${op} is not supported: use < (the value must stay below) or > (must stay above)`;
  const parsed = checkSchema.safeParse(
    { type: 'prometheus', query: query.trim(), [op === '<' ? 'below' : 'above']: Number(threshold), ...(forDuration ? { for: forDuration } : {}) },
    { error: friendlyErrors },
  );
  return parsed.success ? parsed.data : issueLines(parsed.error.issues).join('; ');
}

/** Why a ladder cannot run on this freeze (it names environments the freeze does not hold), or undefined. */
export function ladderProblem(freeze: FreezeState, ladder: string[]): string | undefined {
  const missing = ladder.filter((e) => !freeze.scope.environments.includes(e) && !(freeze.released ?? []).includes(e));
  if (!missing.length) return undefined;
  return `freeze ${freeze.name} does not hold ${missing.join(', ')} (holds: ${freeze.scope.environments.join(', ') || 'nothing'}${freeze.released?.length ? `; already open: ${freeze.released.join(', ')}` : ''})`;
}
