// Where the worker finds the command-line tools that some mechanisms drive. Defaults are names on
// PATH; each can be pinned by an environment variable.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Env } from './secrets.js';

export interface ToolPaths {
  helm: string;
  git: string;
  /** terraform or tofu: both take the same commands and flags for what Rearguard runs. */
  terraform: string;
  /** Scratch space for checkouts and saved Terraform plans. */
  workDir: string;
}

export function toolPaths(env: Env): ToolPaths {
  return {
    helm: env.REARGUARD_HELM_BIN || 'helm',
    git: env.REARGUARD_GIT_BIN || 'git',
    terraform: env.REARGUARD_TERRAFORM_BIN || 'terraform',
    workDir: env.REARGUARD_WORKDIR || join(tmpdir(), 'rearguard-work'),
  };
}
