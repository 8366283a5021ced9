import type { ConnectionPlugin } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { workflowsPath } from '../../worker/worker.js';
import { workflowBundleOptions } from '../../worker/bundle-options.js';
import { toolPath } from './tools.js';

let runtimeInstalled = false;
/** Test output shows errors only; expected activity failures would otherwise flood it. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger(process.env.REARGUARD_TEST_LOG_LEVEL === 'debug' ? 'DEBUG' : 'ERROR') });
}

/**
 * The client's gRPC channel pings every 30 s even without calls (the SDK's default); the Java test server
 * (grpc-java, which permits a ping every 5 min and none without calls) answers with GOAWAY "too many pings",
 * and calls in flight on that channel (a Query, an Update, a long poll for a result) then hang until they
 * are retried. Long tests on the time-skipping server stalled that way; their channel pings at most hourly.
 */
const calmKeepalive: ConnectionPlugin = {
  name: 'rearguard-test-calm-keepalive',
  configureConnection: (options) => ({
    ...options,
    channelArgs: { ...options.channelArgs, 'grpc.keepalive_permit_without_calls': 0, 'grpc.keepalive_time_ms': 3_600_000 },
  }),
};

export function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: toolPath('temporal-test-server') } },
    plugins: [calmKeepalive],
  });
}

export function createDevServerEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: toolPath('temporal') }, ui: false },
  });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Workflows are bundled once per test file and shared by its workers. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    ...workflowBundleOptions(workflowsPath),
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
  });
  return bundle;
}
