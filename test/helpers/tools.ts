// Where the real servers are. `npm test` provisions them first (scripts/provision.sh); a missing one
// is an error with the command to fix it, never a skipped test.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The CLI as the tests run it: bin/rearguard.js on the TypeScript sources (REARGUARD_FROM_SOURCE=1: through tsx),
 * never a dist/ build that may be older than the code under test (test/e2e/build.test.ts tests the build).
 */
export const CLI = `${ROOT}bin/rearguard.js`;
export const cliEnv = (env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv => ({ ...env, REARGUARD_FROM_SOURCE: '1' });

const TOOLS = {
  temporal: { env: 'TEMPORAL_CLI_PATH', file: '.tools/bin/temporal' },
  'temporal-test-server': { env: 'TEMPORAL_TEST_SERVER_PATH', file: '.tools/bin/temporal-test-server' },
  'temporal-server': { env: 'TEMPORAL_SERVER_PATH', file: '.tools/bin/temporal-server' },
  'temporal-sql-tool': { env: 'TEMPORAL_SQL_TOOL_PATH', file: '.tools/bin/temporal-sql-tool' },
  helm: { env: 'REARGUARD_HELM_BIN', file: '.tools/bin/helm' },
  terraform: { env: 'REARGUARD_TERRAFORM_BIN', file: '.tools/bin/terraform' },
} as const;

export function toolPath(name: keyof typeof TOOLS): string {
  const { env, file } = TOOLS[name];
  const path = process.env[env] ?? `${ROOT}${file}`;
  if (!existsSync(path)) {
    throw new Error(`${name} not found at ${path}: run \`bash scripts/provision.sh\` (npm test does) or set ${env}`);
  }
  return path;
}
