// Entry point of `rearguard`: runs the program and maps every failure to an exit code and a message.
import { CommanderError } from 'commander';
import { buildProgram } from './cli.js';
import { EXIT, asCliError, rootMessage } from './errors.js';

export async function main(argv: string[] = process.argv): Promise<number> {
  const { program, context } = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage mistakes (unknown option, missing argument) are bad input.
      return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    }
    const cli = asCliError(err);
    if (cli) {
      for (const line of cli.lines) process.stderr.write(`${line}\n`);
      return cli.exitCode;
    }
    process.stderr.write(`rearguard: ${rootMessage(err)}\n`);
    if (process.env.REARGUARD_DEBUG) console.error(err);
    return EXIT.failed;
  } finally {
    await context()?.close();
  }
}
