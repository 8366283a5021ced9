// The web console's browser code (console/main.ts and what it imports: Preact, htm, the stylesheet) bundled by esbuild
// into one script and one stylesheet. `npm run build` writes them to dist/console/; `rearguard serve` run from the
// TypeScript sources bundles them in memory at start (esbuild is a development dependency: an image or package
// holds the built files only).
import { fileURLToPath } from 'node:url';

export interface ConsoleBundle {
  js: string;
  css: string;
}

export const CONSOLE_ENTRY = fileURLToPath(new URL('../../console/main.ts', import.meta.url));

export async function bundleConsole(entry = CONSOLE_ENTRY): Promise<ConsoleBundle> {
  const esbuild = await import('esbuild');
  const out = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    minify: true,
    format: 'esm',
    target: ['chrome120', 'firefox121', 'safari17'],
    outdir: 'console',
    entryNames: 'app',
    legalComments: 'none',
    logLevel: 'silent',
  });
  const file = (ext: string) => out.outputFiles.find((f) => f.path.endsWith(ext))?.text ?? '';
  return { js: file('.js'), css: file('.css') };
}
