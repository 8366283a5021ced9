// The console's files as serve sends them: the page (which names its script and stylesheet by relative URLs, so the
// console works under any path prefix a reverse proxy adds), and the bundle: dist/console/ in a build, else bundled
// from the sources at start (client/console/bundle.ts).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { ConsoleBundle } from './bundle.js';

export interface ConsoleAssets extends ConsoleBundle {
  html: string;
  /** What a browser downloads for the first page (page, script, stylesheet), gzip-compressed, in bytes. */
  gzipBytes: number;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Rearguard</title>
<link rel="stylesheet" href="console/app.css">
<script type="module" src="console/app.js"></script>
</head>
<body>
<div id="app"><p class="loading">Loading Rearguard…</p></div>
<noscript>The Rearguard console needs JavaScript. The CLI shows the same: rearguard rollback list, rearguard freeze list.</noscript>
</body>
</html>
`;

export async function loadConsoleAssets(): Promise<ConsoleAssets> {
  // From dist/client/console/assets.js, the built bundle is dist/console/; from the sources, console/ holds no bundle.
  const built = fileURLToPath(new URL('../../console/', import.meta.url));
  let bundle: ConsoleBundle;
  if (existsSync(`${built}app.js`)) bundle = { js: await readFile(`${built}app.js`, 'utf8'), css: await readFile(`${built}app.css`, 'utf8') };
  else {
    const { bundleConsole } = await import('./bundle.js');
    bundle = await bundleConsole();
  }
  const gzipBytes = [PAGE, bundle.js, bundle.css].reduce((n, text) => n + gzipSync(text).length, 0);
  return { ...bundle, html: PAGE, gzipBytes };
}
