export { rollback } from './rollback.js';
