import type { Command } from './command.ts';
import { demoCommand } from './demo.ts';
import { importCommand } from './import.ts';
import { startCommand } from './start.ts';

/** Every CLI command, in the order help lists them. Add a command: one file in this folder, one line here. */
export const COMMANDS: Command[] = [startCommand, importCommand, demoCommand];
