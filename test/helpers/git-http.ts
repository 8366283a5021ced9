// A Git server over smart HTTP for the GitOps controllers (Flux's source-controller speaks it through go-git):
// git's own `git http-backend`, run as a CGI program per request by a small Node server, serving the bare
// repositories under one directory read-only (upload-pack only: the controllers fetch; Rearguard pushes to the
// same bare repository through its path). So the repository a gitops step pushes to is the one Flux pulls from.
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GitHttpServer {
  /** http://127.0.0.1:PORT: a repository `<root>/NAME.git` is at `${url}/NAME.git`. */
  url: string;
  /** Upload-pack requests served (a fetch makes one or more), by repository path: the controllers' pulls. */
  fetches: string[];
  close(): Promise<void>;
}

const BACKEND = '/usr/lib/git-core/git-http-backend';

export async function startGitHttpServer(root: string): Promise<GitHttpServer> {
  const fetches: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // Read-only: no receive-pack (pushes), whatever the repository's config says.
    if (url.pathname.endsWith('/git-receive-pack') || url.searchParams.get('service') === 'git-receive-pack') {
      res.writeHead(403).end('read-only\n');
      return;
    }
    if (req.method === 'POST' && url.pathname.endsWith('/git-upload-pack')) fetches.push(url.pathname.replace(/\/git-upload-pack$/, ''));
    cgi(req, res, url, root);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    fetches,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The request path as CGI wants it, decoded; a malformed escape is left as it is (git then answers 404). */
function pathInfo(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** One CGI request (RFC 3875): the request as variables and stdin, the response as header lines, a blank line, body. */
function cgi(req: IncomingMessage, res: ServerResponse, url: URL, root: string): void {
  const child = spawn(BACKEND, [], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: pathInfo(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
      ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
      ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      SERVER_PROTOCOL: 'HTTP/1.1',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let started = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (started) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') : head.indexOf('\n\n');
    if (end < 0) return;
    const sep = head[end] === 13 ? 4 : 2;
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else res.setHeader(name, value);
    }
    res.statusCode = status;
    started = true;
    res.write(head.subarray(end + sep));
  });
  child.on('close', (code) => {
    if (!started) res.writeHead(502).end(`git http-backend exited ${code}\n`);
    else res.end();
  });
  child.on('error', () => {
    if (!res.headersSent) res.writeHead(500).end('git http-backend failed to start\n');
  });
}
