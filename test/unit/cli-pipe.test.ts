// The CLI is safe to pipe: a reader that closes early (`rearguard audit --json | head -1`) ends the command
// quietly with its exit code, never an unhandled EPIPE stack trace. The real CLI, a real pipe.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, cliEnv } from '../helpers/tools.js';

/** An audit file large enough that the CLI is still writing when the reader has gone. */
async function bigAuditFile(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rearguard-pipe-'));
  const file = join(dir, 'audit.jsonl');
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    lines.push(
      JSON.stringify({
        id: `rollback:prod:api/run/${i}`,
        time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
        actor: 'alice',
        action: 'rollback.step-succeeded',
        reason: `step ${i} of a long rollback, with a reason long enough to fill the pipe quickly`,
        workflowId: 'rollback:prod:api',
        target: { environment: 'prod', service: 'api' },
        details: { step: `s${i}` },
      }),
    );
  }
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

describe('a closed pipe', () => {
  it('audit --json | head -1: the first line arrives, then the CLI ends with exit 0 and no stack trace', async () => {
    const file = await bigAuditFile();
    const child = spawn(process.execPath, [CLI, 'audit', '--json', '--file', file], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const first = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          // What `head -1` does: take one line, close the pipe.
          child.stdout.destroy();
          resolve(buf.slice(0, nl));
        }
      });
      child.on('error', reject);
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.equal((JSON.parse(first) as { action: string }).action, 'rollback.step-succeeded');
    assert.equal(code, 0, `exit code ${code}; stderr: ${stderr}`);
    assert.doesNotMatch(stderr, /EPIPE|\n\s+at |Error/, 'nothing on stderr about the closed pipe');
  });
});
