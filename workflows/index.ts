export { rollback } from './rollback.js';
export { planRollback } from './plan.js';
