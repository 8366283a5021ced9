// `rearguard doctor`: the command line; client/actions/doctor.ts does the work.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { DEPLOYMENT_NAME } from '../../api/ids.js';

const actions = () => import('../actions/doctor.js');
const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerDoctor(program: Command, ctx: () => CliContext, env: NodeJS.ProcessEnv): void {
  program
    .command('doctor')
    .description(
      "Check the whole chain, each line ok, warn or fail with the fix: Temporal (address, TLS, namespace), workers polling, Worker Versioning, and on a worker: helm, git, terraform, each cluster reachable and allowed what the runbooks' steps and the calendars' guardrails do, the catalog, Prometheus, the audit file. Exit 1 if any check fails",
    )
    .option(
      '--runbook <file>',
      "a local runbook whose clusters and namespaces to check access for too (the catalog's runbooks always are); repeatable",
      collect,
    )
    .option(
      '--calendar <file>',
      "a freeze calendar whose guardrails' access to check too (Argo CD projects, Flux objects, the flags file); repeatable",
      collect,
    )
    .option('--deployment <name>', `the worker deployment, for Worker Versioning (env REARGUARD_DEPLOYMENT, default ${DEPLOYMENT_NAME})`)
    .action(async (raw: { runbook?: string[]; calendar?: string[]; deployment?: string }) => (await actions()).doctor(ctx, raw, env));
}
