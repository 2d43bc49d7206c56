#!/usr/bin/env node
// Entry point of the `careflow` command. It runs the compiled JavaScript in dist/ (built by `npm install` through
// `prepare`, or `npm run build`), with no TypeScript loader. In a development checkout CAREFLOW_FROM_SOURCE=1 (the
// test runner sets it) runs the TypeScript sources through tsx instead, a development dependency.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const compiled = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const fromSource = process.env.CAREFLOW_FROM_SOURCE === '1';

async function load() {
  if (!fromSource && existsSync(compiled)) return import(pathToFileURL(compiled).href);
  try {
    const { register } = await import('tsx/esm/api');
    register();
  } catch {
    process.stderr.write(
      fromSource
        ? 'careflow: CAREFLOW_FROM_SOURCE=1 needs the development dependencies (npm install)\n'
        : 'careflow: dist/ is missing: run `npm run build` (npm install does it) first\n',
    );
    process.exit(1);
  }
  return import('../cli/main.ts');
}

const { main } = await load();
process.exitCode = await main(process.argv.slice(2));
