import { parseArgs } from 'node:util';
import { runDemo } from '../../testbench/demo.ts';
import type { Command } from './command.ts';

export const demoCommand: Command = {
  name: 'demo',
  usage: 'demo [--days N]',
  summary: 'Simulated community in accelerated time; prints each alert as its grid worker receives it',
  help: `--days N   simulated days, 2 to 30 (default 3)
Runs on a temporary data directory and ports of its own; nothing is kept.`,
  async run(args) {
    const { values } = parseArgs({ args, options: { days: { type: 'string', default: '3' } } });
    const days = Number(values.days);
    if (!Number.isInteger(days) || days < 2 || days > 30) {
      process.stderr.write('careflow demo: --days must be a whole number from 2 to 30\n');
      return 2;
    }
    await runDemo({ days, out: process.stdout });
    return 0;
  },
};
