// GET /metrics: Rearguard's own metrics plus the Temporal runtime's (scraped from the core SDK's
// Prometheus endpoint on loopback), so one scrape target has both. GET /healthz for probes.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RearguardMetrics } from './metrics.js';

export interface MetricsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(metrics: RearguardMetrics, host: string, port: number, runtimeMetricsUrl?: string): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      }
      if (req.url !== '/metrics' || req.method !== 'GET') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
        return;
      }
      let body = await metrics.registry.metrics();
      if (runtimeMetricsUrl) {
        try {
          const runtime = await fetch(runtimeMetricsUrl, { signal: AbortSignal.timeout(2_000) });
          if (runtime.ok) body += `\n${await runtime.text()}`;
        } catch {
          // The runtime endpoint is optional; Rearguard's own metrics are still served.
        }
      }
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body);
    })().catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
