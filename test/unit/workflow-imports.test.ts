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
import { PRELOADED_LIBRARIES, PRELOADED_RUNBOOK_MODULES, preloadModules } from '../../worker/bundle-options.js';

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

/** Every package the workflow bundle loads, with the chain of files that brings it in, and every project file. */
function workflowImports(): { packages: Map<string, string[]>; files: Set<string> } {
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
  return { packages: found, files: seen };
}

/**
 * What in a module's top level would be state shared between workflows once the module is preloaded: variables
 * (`let`/`var`), collections built at load, and calls that may capture a workflow's context or the time. `const`
 * values of literals, functions and classes, and values frozen at load, are fine.
 */
function moduleState(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const line = (n: ts.Node) => `${relative(ROOT, file)}:${source.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
  // A value frozen at load (Object.freeze(...), e.g. a lookup table) cannot become shared state.
  const frozen = (n: ts.Node) => ts.isCallExpression(n) && n.expression.getText() === 'Object.freeze';
  const calls = (n: ts.Node): boolean =>
    !frozen(n) && (ts.isCallExpression(n) || ts.isNewExpression(n) || (!ts.isFunctionLike(n) && !ts.isClassLike(n) && ts.forEachChild(n, calls) === true));
  for (const s of source.statements) {
    if (ts.isVariableStatement(s)) {
      if (!(s.declarationList.flags & ts.NodeFlags.Const)) out.push(`${line(s)}: a module-level let/var`);
      else if (s.declarationList.declarations.some((d) => d.initializer && calls(d.initializer))) out.push(`${line(s)}: a value computed at load`);
    } else if (ts.isExpressionStatement(s)) out.push(`${line(s)}: a statement run at load`);
  }
  return out;
}

describe('workflow code imports', () => {
  it('no schema or parser library is loaded by the workflow bundle', () => {
    const { packages } = workflowImports();
    const heavy = HEAVY.filter((p) => packages.has(p)).map((p) => `${p} <- ${packages.get(p)!.join(' <- ')}`);
    assert.deepEqual(heavy, []);
    assert.ok(packages.has('@temporalio/workflow'), 'the walk found the workflows');
  });

  // worker/bundle-options.ts: preloaded modules are evaluated once and shared by every workflow of the worker.
  it('the preloaded runbook/ modules are exactly those the workflows import, and hold no state', () => {
    const { files, packages } = workflowImports();
    const imported = [...files]
      .map((f) => relative(ROOT, f))
      .filter((f) => f.startsWith('runbook/'))
      .map((f) => f.slice('runbook/'.length, -'.ts'.length))
      .sort();
    assert.deepEqual([...PRELOADED_RUNBOOK_MODULES].sort(), imported, 'worker/bundle-options.ts PRELOADED_RUNBOOK_MODULES');
    const problems = PRELOADED_RUNBOOK_MODULES.flatMap((m) => {
      const file = join(ROOT, 'runbook', `${m}.ts`);
      const temporal = valueImports(file).filter((spec) => spec.startsWith('@temporalio/'));
      return [...moduleState(file), ...temporal.map((spec) => `runbook/${m}.ts imports ${spec}`)];
    });
    assert.deepEqual(problems, []);
    for (const lib of PRELOADED_LIBRARIES) assert.ok(packages.has(lib.split('/').slice(0, 2).join('/')), `${lib} is imported by the workflows`);
  });

  it('bundles, in the build and the sources, preload the same modules', () => {
    const fromSources = preloadModules(join(ROOT, 'workflows/index.ts'));
    const fromBuild = preloadModules(join(ROOT, 'dist/workflows/index.js'));
    const asBuilt = fromSources.map((f) => (f.startsWith(ROOT) ? join(ROOT, 'dist', relative(ROOT, f)).replace(/\.ts$/, '.js') : f));
    assert.deepEqual(fromBuild, asBuilt);
    for (const f of fromSources.filter((x) => x.startsWith(ROOT))) assert.ok(existsSync(f), `${f} exists`);
  });
});
