// One shape for every CLI command: its name, its options (typed from the yargs builder, so no casts),
// and what it does. A failure thrown by `run` goes to the CLI's one error report (errors.ts).
import type { ArgumentsCamelCase, Argv } from 'yargs';

/** The options every command takes (declared once, on the top-level parser). */
export interface GlobalArgs {
  json: boolean;
  verbose: boolean;
}

export interface CommandSpec<A> {
  /** yargs' command string: the name, then positionals (`sync [features..]`). */
  command: string;
  describe: string;
  /** The command's own options, added to the global ones. */
  options: (y: Argv<GlobalArgs>) => Argv<A>;
  run: (args: ArgumentsCamelCase<A>) => Promise<void> | void;
}

/** A command, ready for the parser. */
export interface Command {
  name: string;
  register: (y: Argv<GlobalArgs>) => Argv<GlobalArgs>;
}

export function defineCommand<A>(spec: CommandSpec<A>): Command {
  return {
    name: spec.command.split(' ')[0],
    register: (y) => y.command(spec.command, spec.describe, spec.options, async (args) => spec.run(args)),
  };
}
