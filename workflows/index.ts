export { rollback } from './rollback.js';
export { planRollback } from './plan.js';
export { freezeWindow } from './freeze.js';
export { gradualUnfreeze } from './unfreeze.js';
export { drill } from './drill.js';
export { sloGuard } from './slo-guard.js';
