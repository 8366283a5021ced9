// `npm run build:workflows [OUT]`: bundles the workflows of the sources once (webpack, ~4 s on 2 cores) so that a
// worker started with REARGUARD_WORKFLOW_BUNDLE=OUT skips bundling at every start. `npm run build` bundles the
// compiled workflows into dist/workflow-bundle.js itself, which the compiled worker uses by default.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowsPath } from '../worker/worker.js';
import { workflowBundleOptions } from '../worker/bundle-options.js';

const out = resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
const { code } = await bundleWorkflowCode(workflowBundleOptions(workflowsPath));
await mkdir(dirname(out), { recursive: true });
await writeFile(out, code);
console.log(`workflow bundle written to ${out} (${(code.length / 1024).toFixed(0)} KiB)`);
