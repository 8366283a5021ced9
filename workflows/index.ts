export { rollback } from './rollback.js';
export { planRollback } from './plan.js';
export { freezeWindow } from './freeze.js';
