// `rearguard completion bash|zsh|fish`: the command line; client/actions/completion.ts writes the script.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

const actions = () => import('../actions/completion.js');

export function registerCompletion(program: Command, ctx: () => CliContext): void {
  program
    .command('completion')
    .argument('<shell>', 'bash, zsh or fish')
    .description(
      'Print the shell completion script: commands, subcommands, flags and their fixed values (bash: source <(rearguard completion bash); zsh: the same in ~/.zshrc; fish: rearguard completion fish > ~/.config/fish/completions/rearguard.fish)',
    )
    .action(async (shell: string) => (await actions()).completion(ctx, program, shell));
}
