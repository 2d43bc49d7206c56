import { isCareflowError } from '../core/errors.ts';
import { COMMANDS } from './commands/index.ts';

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length)) + 2;
  const lines = COMMANDS.map((c) => `  careflow ${c.usage.padEnd(width)}${c.summary}`);
  return `careflow — smart water meter welfare alerts for grid-based community care

Usage:
${lines.join('\n')}
  careflow ${'help'.padEnd(width)}Show this help

Configuration comes from environment variables (CAREFLOW_*) and an optional JSON file named by
CAREFLOW_CONFIG; see the README for the table of settings and defaults.
`;
}

/** Runs one CLI command; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(help());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`careflow: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (isCareflowError(err)) {
      process.stderr.write(`careflow ${name}: ${err.code}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`careflow ${name}: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
