// Entry point of `rearguard`: runs the program and maps every failure to an exit code and a message.
import { CommanderError } from 'commander';
import { buildProgram } from './cli.js';
import { EXIT, asCliError, errorDocument, rootMessage } from './errors.js';
import { requestedFormat } from './output.js';

/**
 * A reader that stops early (`rearguard audit --json | head`) is not a failure: the next write to the closed
 * pipe fails with EPIPE, asynchronously, and would crash with a stack trace. End at once and quietly instead,
 * as a tool killed by SIGPIPE does (Node ignores that signal), with the exit code so far.
 */
export function endQuietlyOnClosedPipe(stream: NodeJS.WriteStream, exit: (code: number) => void = (code) => process.exit(code)): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok);
    else exit(EXIT.failed);
  });
}

let pipesGuarded = false;

export async function main(argv: string[] = process.argv): Promise<number> {
  // Once per process: tests call main() many times in one process, and listeners must not pile up.
  if (!pipesGuarded) {
    pipesGuarded = true;
    endQuietlyOnClosedPipe(process.stdout);
    endQuietlyOnClosedPipe(process.stderr);
  }
  // --json or -o json|yaml anywhere on the line (commander reads global options after the subcommand too) makes
  // errors one document in that format.
  const format = requestedFormat(argv.slice(2));
  const { program, context } = buildProgram(process.env, { errorFormat: format });
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage mistakes (unknown option, missing argument) are bad input.
      return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    }
    // Once commander has parsed the line, its reading of -o/--json is the truth (a --reason of "-o" is a reason).
    const settled = context()?.opts.output ?? format;
    const cli = asCliError(err);
    if (cli) {
      if (settled !== 'text' && cli.lines.length > 0) process.stderr.write(`${errorDocument(cli.exitCode, cli.lines, settled)}\n`);
      else for (const line of cli.lines) process.stderr.write(`${line}\n`);
      return cli.exitCode;
    }
    process.stderr.write(settled !== 'text' ? `${errorDocument(EXIT.failed, [rootMessage(err)], settled)}\n` : `rearguard: ${rootMessage(err)}\n`);
    if (process.env.REARGUARD_DEBUG) console.error(err);
    return EXIT.failed;
  } finally {
    await context()?.close();
  }
}
