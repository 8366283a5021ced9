// The step types and which of them are planned, apart from the zod schemas (schema.ts) so that workflow code can
// use them without loading zod: every workflow a worker creates evaluates the modules it imports again (the SDK's
// reuseV8Context isolation), and building the runbook schemas cost ~20 ms of workflow-thread CPU per rollback
// (issue 14, `npm run bench -- --only concurrency`, worker CPU profile).
export const STEP_TYPES = ['blueGreen', 'kubernetes', 'helm', 'gitops', 'terraform', 'webhook'] as const;
export type StepType = (typeof STEP_TYPES)[number];
/** Mechanisms whose target is resolved (planned) once before they run, so retries aim at the same target. */
export const PLANNED_STEP_TYPES: readonly StepType[] = ['kubernetes', 'blueGreen', 'helm', 'terraform', 'gitops'];
