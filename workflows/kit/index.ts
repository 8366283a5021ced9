// What every workflow shares: the audit trail and how a run settles it, best-effort announcements, when to
// continue as new, and which errors no retry can fix. One copy, so the workflows cannot drift apart.
export { auditTrail, settle, type AuditTrail } from './audit.js';
export { NOTIFY_OPTIONS, notifier, type Send } from './notify.js';
export { historyTooLong } from './history.js';
export { showProgress } from './progress.js';
export { CONFIGURATION_ERRORS, FINAL_CHECK_ERRORS, FINAL_STEP_ERRORS, errorMessage } from './errors.js';
export { RunbookRun } from './runbook-run.js';
