// OpenTelemetry tracing, on when the standard OTEL_* variables ask for it (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off): spans go over
// OTLP/HTTP to that endpoint (the exporter reads the OTEL_EXPORTER_OTLP_* variables itself; OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES name the process). One trace per operation: the CLI's start of a workflow, the workflow
// run, each activity (@temporalio/interceptors-opentelemetry on client and worker). Loaded only when on, so a CLI
// or worker without tracing pays nothing for it.
import type { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';
import type { WorkflowClientInterceptor } from '@temporalio/client';

export const tracingRequested = (env: NodeJS.ProcessEnv): boolean =>
  Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) && env.OTEL_SDK_DISABLED !== 'true' && env.OTEL_TRACES_EXPORTER !== 'none';

export interface Tracing {
  /** For Worker.create: client, activity and workflow interceptors, and the sink that exports workflow spans. */
  plugin: OpenTelemetryPlugin;
  /** For a Client: its calls start the traces. */
  clientInterceptor: WorkflowClientInterceptor;
  /** Exports what is still buffered; call before the process exits. */
  shutdown(): Promise<void>;
}

/** Registers a global tracer provider exporting over OTLP/HTTP, or undefined when the environment does not ask for it. */
export async function startTracing(env: NodeJS.ProcessEnv, defaultServiceName: string): Promise<Tracing | undefined> {
  if (!tracingRequested(env)) return undefined;
  const [{ BasicTracerProvider, BatchSpanProcessor }, { Resource, envDetectorSync }, { OTLPTraceExporter }, { AsyncLocalStorageContextManager }, otel] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/context-async-hooks'),
      import('@temporalio/interceptors-opentelemetry'),
    ]);
  const resource = new Resource({ 'service.name': defaultServiceName }).merge(envDetectorSync.detect());
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter());
  const provider = new BasicTracerProvider({ resource });
  provider.addSpanProcessor(spanProcessor);
  // The context manager carries the active span across awaits: the client's span reaches the headers it injects.
  provider.register({ contextManager: new AsyncLocalStorageContextManager().enable() });
  return {
    plugin: new otel.OpenTelemetryPlugin({ resource, spanProcessor }),
    clientInterceptor: new otel.OpenTelemetryWorkflowClientInterceptor(),
    shutdown: () => provider.shutdown(),
  };
}
