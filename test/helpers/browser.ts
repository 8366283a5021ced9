// Headless Chromium from Debian's packages (scripts/provision.sh browser), driven by playwright-core: no browser is
// downloaded. The flags keep Chromium off the network it would otherwise call at start (updates, sync, QUIC probes),
// which this machine refuses. Pages' screenshots go to test-artifacts/console/ (kept by CI as artifacts).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './tools.js';

export const CHROMIUM = process.env.REARGUARD_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'console');

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run \`bash scripts/provision.sh browser\` (npm test does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's violations on the page whose impact is serious or critical, one line each. */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, not a <script> tag: the console's CSP (script-src 'self') would refuse it.
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }
    ).axe;
    return (await axe.run()).violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.targets.slice(0, 3).join(', ')})`);
}

/**
 * Tabs through the page and returns what each press focused (tag and text or label), once round, stopping when focus
 * comes back to an element already seen; `interactive` is every link, button, select and input shown on the page.
 */
export async function tabOrder(page: Page): Promise<{ reached: string[]; interactive: string[] }> {
  // The body: focus left the page's elements.
  const describe = `(el) => el && el !== document.body ? \`\${el.tagName.toLowerCase()}:\${(el.getAttribute('aria-label') || el.textContent || '').trim().slice(0, 60)}\` : ''`;
  await page.evaluate('document.activeElement?.blur()');
  const reached: string[] = [];
  // Chromium starts from where focus last was, and after the last element Tab leaves the page once before it
  // starts again from the top: the walk stops at the first element seen twice (or after leaving the page 3 times).
  let leftPage = 0;
  for (let i = 0; i < 300 && leftPage < 3; i++) {
    await page.keyboard.press('Tab');
    const d = (await page.evaluate(`(${describe})(document.activeElement)`)) as string;
    if (!d) {
      leftPage++;
      continue;
    }
    if (reached.includes(d)) break;
    reached.push(d);
  }
  // What is on screen: the contents of a closed dialog are not (display: none).
  const interactive = (await page.evaluate(
    `[...document.querySelectorAll('a[href], button, select, input, textarea')].filter((el) => el.getClientRects().length > 0).map(${describe})`,
  )) as string[];
  return { reached, interactive };
}
