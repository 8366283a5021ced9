// What the workflow bundle evaluates for every workflow it creates: the SDK (reuseV8Context) runs the module code
// of everything workflows/index.ts imports again for each new workflow (and each one replayed after eviction).
// Building the runbook's zod schemas there cost ~20 ms of the worker's workflow thread per rollback (issue 14,
// profiled under `npm run bench -- --only concurrency`), so workflow code keeps the schema libraries out: it uses
// runbook/step-types.ts and runbook/unfreeze-model.ts, not schema.ts and unfreeze.ts.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { ROOT } from '../helpers/tools.js';

/** Packages that build much at module load (schemas, parsers, time zones), and what workflow code must not import. */
const HEAVY = ['zod', 'yaml', 'luxon', 'cron-parser', 'ical-generator'];

/** The value imports (and re-exports) of a file: specifiers, type-only ones left out. */
function valueImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const out: string[] = [];
  for (const s of source.statements) {
    if (ts.isImportDeclaration(s)) {
      const c = s.importClause;
      const typeOnly =
        c !== undefined &&
        (c.isTypeOnly ||
          (!c.name && c.namedBindings !== undefined && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) out.push((s.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(s) && s.moduleSpecifier && !s.isTypeOnly) {
      const named = s.exportClause && ts.isNamedExports(s.exportClause) ? s.exportClause.elements : undefined;
      if (!named || !named.every((e) => e.isTypeOnly)) out.push((s.moduleSpecifier as ts.StringLiteral).text);
    }
  }
  return out;
}

/** Every package the workflow bundle loads, with the chain of files that brings it in. */
function packagesOfWorkflows(): Map<string, string[]> {
  const seen = new Set<string>();
  const found = new Map<string, string[]>();
  const walk = (file: string, chain: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of valueImports(file)) {
      if (spec.startsWith('.')) {
        const next = join(dirname(file), spec.replace(/\.js$/, '.ts'));
        if (existsSync(next)) walk(next, [...chain, relative(ROOT, next)]);
      } else {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!found.has(pkg)) found.set(pkg, chain);
      }
    }
  };
  walk(join(ROOT, 'workflows/index.ts'), ['workflows/index.ts']);
  return found;
}

describe('workflow code imports', () => {
  it('no schema or parser library is loaded by the workflow bundle', () => {
    const packages = packagesOfWorkflows();
    const heavy = HEAVY.filter((p) => packages.has(p)).map((p) => `${p} <- ${packages.get(p)!.join(' <- ')}`);
    assert.deepEqual(heavy, []);
    assert.ok(packages.has('@temporalio/workflow'), 'the walk found the workflows');
  });
});
