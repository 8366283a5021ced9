// A webhook receiver for trying runbooks/demo-local.yaml: prints each call, answers 200, and
// applies each Idempotency-Key once (a retried call is reported as a duplicate).
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8787);
const seen = new Set<string>();
createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    const key = req.headers['idempotency-key'];
    const duplicate = typeof key === 'string' && seen.has(key);
    if (typeof key === 'string') seen.add(key);
    console.log(
      `${new Date().toISOString()} ${req.method} ${req.url}${key ? ` key=${String(key)}` : ''}${duplicate ? ' (duplicate, not applied again)' : ''} ${body}`,
    );
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, duplicate }));
  });
}).listen(port, '127.0.0.1', () => console.log(`demo receiver on http://127.0.0.1:${port}`));
