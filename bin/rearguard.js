#!/usr/bin/env node
// `rearguard`: runs the compiled CLI, dist/client/main.js (`npm run build`). A build that is missing or older
// than the sources beside it is refused with one line saying to build (exit 1), never run stale. With
// REARGUARD_FROM_SOURCE=1 it runs the TypeScript sources through tsx instead: for development and the tests
// (tsx is a development dependency).
import { buildProblem } from './build-state.js';

/** Ends here with one line and exit 1 (the operation failed: e.g. the deploy gate cannot tell, so CI holds). */
function refuse(problem) {
  process.stderr.write(`rearguard: ${problem}\n`);
  process.exit(1);
}

let main;
if (process.env.REARGUARD_FROM_SOURCE === '1') {
  const tsx = await import('tsx/esm/api').catch(() => undefined);
  if (!tsx) refuse('REARGUARD_FROM_SOURCE=1 runs the TypeScript sources through tsx, a development dependency: run `npm ci` (or unset it)');
  tsx.register();
  ({ main } = await import('../client/main.ts'));
} else {
  const problem = buildProblem();
  if (problem) refuse(problem);
  ({ main } = await import('../dist/client/main.js'));
}
process.exitCode = await main(process.argv);
