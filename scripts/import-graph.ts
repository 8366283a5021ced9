// `npm run imports`: the import graph of the production code in a few lines: files and imports, import
// cycles, imports that run back up the layers, and imports across the boundaries of docs/architecture.md.
// ESLint enforces the boundaries file by file; this gives the whole picture (and the figures the
// architecture work is measured by). Exit code 1 when any of the three counts is not 0.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const FOLDERS = ['runbook', 'api', 'activities', 'workflows', 'worker', 'client', 'console', 'scripts'];
/** Layer height: a value import must go to the same height or lower (workflows and activities are siblings). */
const HEIGHT: Record<string, number> = { runbook: 0, api: 1, activities: 2, workflows: 2, worker: 3, client: 3, console: 1, scripts: 4 };
/** What each folder must not import (values); `types` are folders it may import types from only. */
const RULES: Record<string, { forbid: string[]; typesOnly: string[] }> = {
  runbook: { forbid: ['api', 'activities', 'workflows', 'worker', 'client', 'scripts'], typesOnly: [] },
  api: { forbid: ['activities', 'workflows', 'worker', 'client', 'scripts'], typesOnly: [] },
  activities: { forbid: ['worker', 'client', 'scripts'], typesOnly: ['workflows'] },
  workflows: { forbid: ['worker', 'client', 'scripts'], typesOnly: ['activities'] },
  worker: { forbid: ['client', 'scripts'], typesOnly: ['workflows'] },
  client: { forbid: ['activities', 'worker', 'console', 'scripts'], typesOnly: ['workflows'] },
  // The browser's code: the domain's pure shapes and arithmetic only (serve sends it views as JSON).
  console: { forbid: ['api', 'activities', 'workflows', 'worker', 'client', 'scripts'], typesOnly: [] },
  scripts: { forbid: [], typesOnly: ['workflows'] },
};
/** The only modules of api/ that workflow code may import (the rest is client code). */
const WORKFLOW_SAFE_API = new Set(['api/messages.ts', 'api/ids.ts']);

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return files(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

function edgesOf(file: string): Edge[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const out: Edge[] = [];
  for (const node of source.statements) {
    if (!(ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) || !node.moduleSpecifier) continue;
    const spec = (node.moduleSpecifier as ts.StringLiteral).text;
    if (!spec.startsWith('.')) continue;
    const typeOnly = ts.isImportDeclaration(node)
      ? Boolean(node.importClause?.isTypeOnly) ||
        Boolean(
          node.importClause &&
          !node.importClause.name &&
          node.importClause.namedBindings &&
          ts.isNamedImports(node.importClause.namedBindings) &&
          node.importClause.namedBindings.elements.every((e) => e.isTypeOnly),
        )
      : node.isTypeOnly;
    const to = relative(ROOT, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
    out.push({ from: relative(ROOT, file), to, typeOnly });
  }
  return out;
}

const folderOf = (path: string): string => path.split('/')[0];

function cycles(edges: Edge[]): string[][] {
  // Tarjan's strongly connected components over value and type imports alike (a type cycle is a design cycle too).
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of next.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of next.keys()) if (!idx.has(v)) visit(v);
  return found;
}

function main(): number {
  const all = FOLDERS.flatMap((f) => (existsSync(join(ROOT, f)) ? files(join(ROOT, f)) : []));
  const edges = all.flatMap(edgesOf).filter((e) => FOLDERS.includes(folderOf(e.to)));
  const loops = cycles(edges);
  const backUp = edges.filter((e) => !e.typeOnly && HEIGHT[folderOf(e.to)] > HEIGHT[folderOf(e.from)]);
  const across = edges.filter((e) => {
    const [from, to] = [folderOf(e.from), folderOf(e.to)];
    if (from === to) return false;
    const rule = RULES[from];
    if (from === 'workflows' && to === 'api') return !WORKFLOW_SAFE_API.has(e.to);
    if (rule.typesOnly.includes(to)) return !e.typeOnly;
    return rule.forbid.includes(to);
  });
  console.log(`production code: ${all.length} files, ${edges.length} imports between them`);
  console.log(`import cycles: ${loops.length}`);
  for (const c of loops) console.log(`  ${c.join(' <-> ')}`);
  console.log(`value imports that run back up the layers: ${backUp.length}`);
  for (const e of backUp) console.log(`  ${e.from} -> ${e.to}`);
  console.log(`imports across the boundaries (docs/architecture.md, "Layers"): ${across.length}`);
  for (const e of across) console.log(`  ${e.from} -> ${e.to}${e.typeOnly ? ' (types)' : ''}`);
  return loops.length + backUp.length + across.length === 0 ? 0 : 1;
}

process.exitCode = main();
