import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../core/package-root.ts';

/**
 * The arrows between folders, read from the source: `core/` imports nothing else of ours, the rule catalogue
 * (detectors/rules) builds on core and the detectors' state only, and no module imports itself round a cycle
 * (type-only imports count too: a cycle of types is still a knot for the reader).
 */
const root = packageRoot();
const FOLDERS = ['core', 'detectors', 'notifier', 'broker'];

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The repository-relative files a source file imports (relative imports only). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gms))
    out.push(relative(root, resolve(root, dirname(file), m[1]!)));
  return out;
}

const graph = new Map(FOLDERS.flatMap(sources).map((f) => [f, importsOf(f)]));

function cycles(): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (!graph.has(d)) continue;
      if (state.get(d) === 'open') found.push([...stack.slice(stack.indexOf(d)), d].join(' → '));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return found;
}

describe('the import graph of core, detectors, notifier and broker', () => {
  it('reads the files it checks', () => {
    expect(graph.get('detectors/step.ts')).toContain('detectors/rules/index.ts');
  });

  it('has no import cycles (step.ts and transition.ts included)', () => {
    expect(cycles()).toEqual([]);
  });

  it('keeps core free of imports from the modules above it', () => {
    const upward = [...graph]
      .filter(([f]) => f.startsWith('core/'))
      .flatMap(([f, deps]) => deps.filter((d) => !d.startsWith('core/')).map((d) => `${f} → ${d}`));
    expect(upward).toEqual([]);
  });

  it('builds the rule catalogue on core and the detectors only', () => {
    const outward = [...graph]
      .filter(([f]) => f.startsWith('detectors/rules/'))
      .flatMap(([f, deps]) =>
        deps.filter((d) => !d.startsWith('core/') && !d.startsWith('detectors/')).map((d) => `${f} → ${d}`),
      );
    expect(outward).toEqual([]);
  });
});
