import { backtestCommand } from './backtest.ts';
import type { Command } from './command.ts';
import { deadLettersCommand } from './deadletters.ts';
import { demoCommand } from './demo.ts';
import { importCommand } from './import.ts';
import { replayCommand } from './replay.ts';
import { rulesCommand } from './rules.ts';
import { scoreCommand } from './score.ts';
import { simulateCommand } from './simulate.ts';
import { startCommand } from './start.ts';

/** Every CLI command, in the order help lists them. Add a command: one file in this folder, one line here. */
export const COMMANDS: Command[] = [
  startCommand,
  importCommand,
  demoCommand,
  replayCommand,
  deadLettersCommand,
  simulateCommand,
  scoreCommand,
  rulesCommand,
  backtestCommand,
];
