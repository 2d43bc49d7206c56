import { isCareflowError } from '../core/errors.ts';
import type { Command } from './commands/command.ts';

// Commands load on demand, so `careflow start` can report a bad setting or a taken port before the rest loads.
let COMMANDS: Command[] = [];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length)) + 2;
  const lines = COMMANDS.map((c) => `  careflow ${c.usage.padEnd(width)}${c.summary}`);
  return `careflow — smart water meter welfare alerts for grid-based community care

Usage:
${lines.join('\n')}
  careflow ${'help [command]'.padEnd(width)}Show this help, or a command's (also: careflow <command> --help)

Configuration comes from environment variables (CAREFLOW_*) and an optional JSON file named by
CAREFLOW_CONFIG; see the README for the table of settings and defaults.
`;
}

function commandHelp(c: Command): string {
  return `Usage: careflow ${c.usage}\n\n${c.summary}\n${c.help ? `\n${c.help.trimEnd()}\n` : ''}`;
}

const isHelpFlag = (a: string) => a === '--help' || a === '-h';

/** Runs one CLI command; returns the process exit code. Never shows a stack trace (CAREFLOW_DEBUG=1 does). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // A cluster worker (`start --cluster`) listens on no MQTT port: its own start-up reports what is wrong.
  if (name === 'start' && !rest.some(isHelpFlag) && !rest.includes('--cluster')) {
    const failed = await (await import('./commands/start-preflight.ts')).startPreflight().then(
      () => undefined,
      (err: unknown) => err,
    );
    if (failed) return report(name, failed);
  }
  ({ COMMANDS } = await import('./commands/index.ts'));
  if (name === undefined || name === 'help' || isHelpFlag(name)) {
    const about = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(about ? commandHelp(about) : help());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`careflow: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  // `--` ends the options: a `--help` after it is an argument, not a request for help.
  const options = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (options.some(isHelpFlag)) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    return report(name, err);
  }
}

/** An error as one line for people (the stack only with CAREFLOW_DEBUG=1); returns the exit code. */
function report(name: string, err: unknown): number {
  if (isCareflowError(err)) {
    process.stderr.write(`careflow ${name}: ${err.code}: ${err.message}\n`);
    return 1;
  }
  const e = err as Error & { code?: unknown };
  if (process.env.CAREFLOW_DEBUG === '1') process.stderr.write(`${e.stack ?? String(err)}\n`);
  if (typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS')) {
    // node:util parseArgs: an unknown option, a missing value…
    process.stderr.write(`careflow ${name}: ${e.message} (see careflow ${name} --help)\n`);
    return 2;
  }
  const message = (e.message ?? String(err)).split('\n')[0];
  process.stderr.write(`careflow ${name}: ${message}\n`);
  return 1;
}
