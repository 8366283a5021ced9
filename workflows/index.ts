// The worker bundles this file: every workflow type Rearguard registers, by the names clients start them with.
// The catalogue (IDs, messages, how long-running ones bound their history): docs/architecture.md.
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import { rollback } from './rollback.js';
import { planRollback } from './plan.js';
import { freezeWindow } from './freeze.js';
import { gradualUnfreeze } from './unfreeze.js';
import { drill } from './drill.js';
import { sloGuard } from './slo-guard.js';
import { catalogIndex } from './catalog.js';
import { freezeGateRegistry } from './gate-registry.js';
import { diagnose } from './doctor.js';

// Worker Versioning (a worker started with a build ID, README "Upgrading"): what a run does when a new version of
// the workers becomes current. No effect on the commands a run emits. Given only on a versioned worker's tasks
// (a deployment version with a deployment name; an unversioned worker's tasks carry only the SDK's build ID): an
// unversioned worker may not name a behaviour at all.
const versioned = (versioningBehavior: 'PINNED' | 'AUTO_UPGRADE') => () =>
  workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior } : {};
//
// PINNED: the run stays on the version that started it. Rollbacks, their plans, drills and doctor's diagnoses are short and act on
// production step by step: a procedure is finished by the code that planned it (`rearguard upgrade` moves a
// rollback still waiting for its approval, which has not acted yet, so that the old version can stop).
const pinned = versioned('PINNED');
setWorkflowOptions(pinned, rollback);
setWorkflowOptions(pinned, planRollback);
setWorkflowOptions(pinned, drill);
setWorkflowOptions(pinned, diagnose);
// AUTO_UPGRADE: the run's next workflow task goes to the current version. Freezes, unfreezes and guards live for
// days to months, longer than any one version runs; they move at their next task (a timer, a message), which
// replays their history on the new code: a change that alters their commands is behind patched(). The catalog
// index and the gate registry hold no procedure, only state a new version reads the same way.
const autoUpgrade = versioned('AUTO_UPGRADE');
setWorkflowOptions(autoUpgrade, freezeWindow);
setWorkflowOptions(autoUpgrade, gradualUnfreeze);
setWorkflowOptions(autoUpgrade, sloGuard);
setWorkflowOptions(autoUpgrade, catalogIndex);
setWorkflowOptions(autoUpgrade, freezeGateRegistry);

export { rollback, planRollback, freezeWindow, gradualUnfreeze, drill, sloGuard, catalogIndex, freezeGateRegistry, diagnose };
