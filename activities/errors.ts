// Failure types the workflows treat as final (listed in their nonRetryableErrorTypes): retrying a
// wrong configuration or a missing permission only delays the page to a human.
import { ApplicationFailure } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';

export const configurationError = (message: string): ApplicationFailure => ApplicationFailure.nonRetryable(message, 'ConfigurationError');

/**
 * A verify or gate check that did not hold: an answer, not a fault of Rearguard. BENIGN, so the worker logs it
 * at DEBUG instead of a WARN with a stack trace (the workflow still sees a final CheckFailed, and audits it).
 */
export const checkFailed = (message: string): ApplicationFailure =>
  ApplicationFailure.create({ message, type: 'CheckFailed', nonRetryable: true, category: ApplicationFailureCategory.BENIGN });

export const notAvailable = (what: string): ApplicationFailure =>
  ApplicationFailure.nonRetryable(`${what} is not available yet in this version of Rearguard; remove it from the runbook or upgrade`, 'MechanismNotAvailable');

/** Short, single-line excerpt of a response or process output for results and errors. */
export function excerpt(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
