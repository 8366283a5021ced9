// The worker bundles this file: every workflow type Rearguard registers, by the names clients start them with.
// The catalogue (IDs, messages, how long-running ones bound their history): docs/architecture.md.
export { rollback } from './rollback.js';
export { planRollback } from './plan.js';
export { freezeWindow } from './freeze.js';
export { gradualUnfreeze } from './unfreeze.js';
export { drill } from './drill.js';
export { sloGuard } from './slo-guard.js';
export { catalogIndex } from './catalog.js';
export { freezeGateRegistry } from './gate-registry.js';
