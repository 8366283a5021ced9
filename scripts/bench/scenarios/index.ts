// The scenarios of `npm run bench`, in the order they run (cheap first, `scale` last). Each module exports
// one Scenario (scripts/bench/types.ts); add yours to the list below.
import { alerts } from './alerts.js';
import { cli } from './cli.js';
import { concurrency } from './concurrency.js';
import { consoleNow } from './console.js';
import { gate } from './gate.js';
import { rollbackKubectl } from './rollback-kubectl.js';
import { rollbackWebhook } from './rollback-webhook.js';
import { scale } from './scale.js';
import { serverStart } from './server-start.js';
import { workerStart } from './worker-start.js';
import type { Scenario } from '../types.js';

export const scenarios: Scenario[] = [
  serverStart,
  cli,
  workerStart,
  rollbackWebhook,
  rollbackKubectl,
  gate,
  concurrency,
  alerts,
  // --- new scenarios: append here, before scale ---
  consoleNow,
  scale,
];
