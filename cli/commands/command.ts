/** One CLI command: its name, a line of help, and how it runs (returns the exit code). */
export interface Command {
  name: string;
  /** `careflow <usage>` as shown in help. */
  usage: string;
  summary: string;
  /** Longer help shown by `careflow <name> --help`: options, forms, examples. */
  help?: string;
  run(args: string[]): Promise<number>;
}
