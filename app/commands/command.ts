/** One CLI command: its name, a line of help, and how it runs (returns the exit code). */
export interface Command {
  name: string;
  /** `careflow <usage>` as shown in help. */
  usage: string;
  summary: string;
  run(args: string[]): Promise<number>;
}
