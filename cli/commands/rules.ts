import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Command } from './command.ts';
import type { RuleChanges, ScopeOverrides } from '../../core/rules.ts';

/**
 * `careflow rules …` talks to the running service over HTTP, so that a change is checked, authorised and
 * audited exactly like one made in the console, and reaches the running detectors at once. `set … --cluster`
 * changes a cluster's rules in its shared PostgreSQL store instead (the same validation; detectors/shared-rules.ts),
 * and `effective|get|history … --cluster` read them there.
 *
 *   careflow rules effective <household>
 *   careflow rules get <scope>                       scope: global | street:<code> | community:<code> | grid:<code> | household:<id>
 *   careflow rules set <scope> <rule>.<field>=<value> … --reason "…"     (<rule>=null removes the scope's override)
 *   careflow rules history <scope> [--limit N]
 *
 * --url (default $CAREFLOW_URL or http://127.0.0.1:$CAREFLOW_HTTP_PORT|3000), --token (default $CAREFLOW_TOKEN,
 * else the admin token of $CAREFLOW_DATA_DIR), --json for the raw answer.
 */
const USAGE = `usage:
  careflow rules effective <household>
  careflow rules get <scope>
  careflow rules set <scope> <rule>.<field>=<value> … --reason "why"
  careflow rules history <scope> [--limit N]
  careflow rules set <scope> <rule>.<field>=<value> … --reason "why" --cluster
      changes the rules of a cluster in its shared PostgreSQL store (CAREFLOW_POSTGRES_URL) instead: validated the
      same way, every worker takes them within cluster.registryPollMs and a detector tick
  careflow rules effective|get|history … --cluster
      reads them there (effective: without what the workers' detectors learned)
scope: global | street:<code> | community:<code> | grid:<code> | household:<id>
field: a parameter (heavy-use.minLitersPerBucket=150, the same as heavy-use.params.minLitersPerBucket=150),
  or enabled, severity, autoResolve, suppressedWhenAway (low-use.enabled=false); <rule>=null removes the override
options: --url http://host:port  --token <bearer token>  --json`;

interface Answer {
  status: number;
  body: Record<string, unknown> & {
    code?: string;
    message?: string;
    issues?: { path: string; message: string }[];
  };
}

export const rulesCommand: Command = {
  name: 'rules',
  usage: 'rules effective|get|set|history …',
  summary: 'Show or change the rule hierarchy of a running service (validated, versioned, audited)',
  help: USAGE,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        reason: { type: 'string' },
        limit: { type: 'string', default: '20' },
        json: { type: 'boolean', default: false },
        cluster: { type: 'boolean', default: false },
      },
    });
    const [action, target, ...assignments] = positionals;
    if (!action || !target || !['effective', 'get', 'set', 'history'].includes(action)) return usage();
    if (values.cluster) {
      if (action !== 'set') return readInCluster(action, target, Number(values.limit), values.json);
      if (!values.reason) return usage('set needs --reason "why"');
      return setInCluster(target, assignments, values.reason, values.json);
    }
    const call = client(values.url, values.token);
    const out = (a: Answer, text: () => string) => {
      if (a.status >= 400) return fail(a);
      process.stdout.write(values.json ? JSON.stringify(a.body, null, 2) + '\n' : text());
      return 0;
    };
    if (action === 'effective') {
      const a = await call('GET', `/api/rules/effective?household=${encodeURIComponent(target)}`);
      return out(a, () => effectiveText(a.body));
    }
    const path = scopePath(target);
    if (!path) return usage(`"${target}" is not a scope`);
    if (action === 'get') {
      const a = await call('GET', `/api/rules/${path}`);
      return out(
        a,
        () =>
          `${a.body.scope} (rules version ${a.body.rulesVersion})\n${JSON.stringify(a.body.rules, null, 2)}\n`,
      );
    }
    if (action === 'history') {
      const a = await call('GET', `/api/rules/${path}/history?limit=${Number(values.limit)}`);
      return out(a, () => historyText(a.body));
    }
    if (!values.reason) return usage('set needs --reason "why"');
    if (assignments.length === 0) return usage('set needs at least one <rule>.<field>=<value>');
    const problem = assignmentProblem(assignments);
    if (problem) return usage(problem);
    const current = await call('GET', `/api/rules/${path}`);
    if (current.status >= 400) return fail(current);
    const touched = changesFrom((current.body.rules ?? {}) as ScopeOverrides, assignments);
    const a = await call('PUT', `/api/rules/${path}`, { rules: touched, reason: values.reason });
    return out(a, () => {
      const changes = (a.body.changes as { ruleId: string; old: unknown; new: unknown }[]) ?? [];
      if (changes.length === 0) return 'nothing changed\n';
      return (
        `${a.body.scope}: rules version ${a.body.rulesVersion}\n` +
        changes.map((c) => `  ${c.ruleId}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)}\n`).join('')
      );
    });
  },
};

/** Why the assignments cannot be applied, or undefined. */
function assignmentProblem(assignments: string[]): string | undefined {
  if (assignments.length === 0) return 'set needs at least one <rule>.<field>=<value>';
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq < 0) return `"${assignment}" is not <rule>.<field>=<value>`;
    const fields = assignment.slice(0, eq).split('.').slice(1);
    if (fields.length === 0 && parseValue(assignment.slice(eq + 1)) !== null)
      return `"${assignment}": only <rule>=null (remove the override) is allowed`;
  }
  return undefined;
}

/** The scope's changes: each named rule's override in force with the assigned fields set (`<rule>=null`: removed). */
function changesFrom(current: ScopeOverrides, assignments: string[]): RuleChanges {
  const rules = structuredClone(current) as Record<string, Record<string, unknown> | null>;
  const touched: Record<string, Record<string, unknown> | null> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    const [ruleId, ...fields] = assignment.slice(0, eq).split('.');
    const value = parseValue(assignment.slice(eq + 1));
    if (fields.length === 0) {
      touched[ruleId!] = null;
      continue;
    }
    const rule = (touched[ruleId!] ?? rules[ruleId!] ?? {}) as Record<string, unknown>;
    setPath(rule, ruleFieldPath(fields), value);
    touched[ruleId!] = rule;
  }
  return touched as RuleChanges;
}

/** `rules set … --cluster`: the change made once in the cluster's shared store (detectors/shared-rules.ts). */
async function setInCluster(
  target: string,
  assignments: string[],
  reason: string,
  json: boolean,
): Promise<number> {
  const problem = assignmentProblem(assignments);
  if (problem) return usage(problem);
  const [{ loadConfig }, { openPgPool }, { setRulesShared }, { parseScopeName }, { REGISTRY_SET }] =
    await Promise.all([
      import('../../core/config.ts'),
      import('../../core/postgres.ts'),
      import('../../detectors/shared-rules.ts'),
      import('../../detectors/rule-resolver.ts'),
      import('../../registry/tables.ts'),
    ]);
  const scope = parseScopeName(target);
  if (!scope) return usage(`"${target}" is not a scope`);
  const config = loadConfig(process.env);
  if (!config.cluster.postgresUrl) {
    process.stderr.write(
      'careflow rules set --cluster: set cluster.postgresUrl (CAREFLOW_POSTGRES_URL) to the shared PostgreSQL store\n',
    );
    return 2;
  }
  const pool = openPgPool(config.cluster.postgresUrl, { max: 2 });
  try {
    const result = await setRulesShared(pool, {
      scope,
      changes: (current) => changesFrom(current, assignments),
      by: { actor: 'cli', at: Date.now(), reason },
      config: config.detectors.rules,
      bucketMinutes: config.bucketMinutes,
      places: [REGISTRY_SET],
    });
    if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else if (result.changes.length === 0) process.stdout.write('nothing changed\n');
    else
      process.stdout.write(
        `${target}: rules version ${result.version} (shared rules version ${result.published}; workers take it ` +
          `within ${config.cluster.registryPollMs / 1000} s and a detector tick)\n` +
          result.changes
            .map((c) => `  ${c.ruleId}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)}\n`)
            .join(''),
      );
    return 0;
  } finally {
    await pool.end();
  }
}

/**
 * `rules effective|get|history … --cluster`: the cluster's rule hierarchy read from its shared store, answered as
 * the rules API answers (detectors/shared-rules.ts).
 */
async function readInCluster(action: string, target: string, limit: number, json: boolean): Promise<number> {
  if (action === 'history' && !(Number.isInteger(limit) && limit > 0 && limit <= 1000))
    return usage('--limit is a whole number from 1 to 1000');
  const [
    { loadConfig },
    { openPgPool },
    { readRulesShared },
    { parseScopeName },
    { scopeName },
    { REGISTRY_SET },
  ] = await Promise.all([
    import('../../core/config.ts'),
    import('../../core/postgres.ts'),
    import('../../detectors/shared-rules.ts'),
    import('../../detectors/rule-resolver.ts'),
    import('../../core/rules.ts'),
    import('../../registry/tables.ts'),
  ]);
  const scope = action === 'effective' ? undefined : parseScopeName(target);
  if (action !== 'effective' && !scope) return usage(`"${target}" is not a scope`);
  const config = loadConfig(process.env);
  if (!config.cluster.postgresUrl) {
    process.stderr.write(
      `careflow rules ${action} --cluster: set cluster.postgresUrl (CAREFLOW_POSTGRES_URL) to the shared PostgreSQL store\n`,
    );
    return 2;
  }
  const pool = openPgPool(config.cluster.postgresUrl, { max: 2 });
  try {
    const view = {
      config: config.detectors.rules,
      bucketMinutes: config.bucketMinutes,
      places: [REGISTRY_SET],
    };
    const answer = await readRulesShared(pool, view, (book, store): Answer => {
      // Refused as the API refuses them.
      if (action === 'effective') {
        if (!store.registry.household(target))
          return {
            status: 404,
            body: { code: 'ERR_HOUSEHOLD_NOT_FOUND', message: `No household ${target}` },
          };
        return { status: 200, body: { ...book.effective(target) } };
      }
      if (!store.rules.scopePlace(scope!)) {
        const household = scope!.level === 'household';
        return {
          status: 404,
          body: {
            code: household ? 'ERR_HOUSEHOLD_NOT_FOUND' : 'ERR_SCOPE_NOT_FOUND',
            message: household ? `No household ${scope!.code}` : `No ${scope!.level} ${scope!.code}`,
          },
        };
      }
      if (action === 'get')
        return {
          status: 200,
          body: { scope: scopeName(scope!), rulesVersion: book.version(), rules: book.overrides(scope!) },
        };
      return { status: 200, body: { scope: scopeName(scope!), changes: book.history(scope!, limit) } };
    });
    if (answer.status >= 400) return fail(answer);
    const text =
      action === 'effective'
        ? effectiveText(answer.body)
        : action === 'get'
          ? `${answer.body.scope} (rules version ${answer.body.rulesVersion})\n${JSON.stringify(answer.body.rules, null, 2)}\n`
          : historyText(answer.body);
    process.stdout.write(json ? JSON.stringify(answer.body, null, 2) + '\n' : text);
    return 0;
  } finally {
    await pool.end();
  }
}

function client(url: string | undefined, token: string | undefined) {
  const base = (
    url ??
    process.env.CAREFLOW_URL ??
    `http://127.0.0.1:${process.env.CAREFLOW_HTTP_PORT ?? 3000}`
  ).replace(/\/$/, '');
  const bearer = token ?? process.env.CAREFLOW_TOKEN ?? process.env.CAREFLOW_ADMIN_TOKEN ?? adminTokenFile();
  return async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const res = await fetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${bearer ?? ''}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Answer['body'] };
  };
}

function adminTokenFile(): string | undefined {
  const file = join(process.env.CAREFLOW_DATA_DIR ?? './data', 'admin-token');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** `grid:g1` → `grid/g1`; `global` → `global/all`. */
export function scopePath(scope: string): string | undefined {
  if (scope === 'global') return 'global/all';
  const m = /^(district|street|community|grid|building|household):(.+)$/.exec(scope);
  return m ? `${m[1]}/${encodeURIComponent(m[2]!)}` : undefined;
}

/** The fields of a rule override other than its parameters (core/rules.ts `RuleOverride`). */
const RULE_FIELDS = new Set(['enabled', 'severity', 'autoResolve', 'suppressedWhenAway', 'params']);

/**
 * Where `<rule>.<field>` goes in a rule override: `heavy-use.minLitersPerBucket` is a parameter, the short form
 * of `heavy-use.params.minLitersPerBucket`; `heavy-use.enabled` is the rule's own field.
 */
export function ruleFieldPath(fields: string[]): string[] {
  return fields.length > 0 && !RULE_FIELDS.has(fields[0]!) ? ['params', ...fields] : fields;
}

/** `4` → 4, `true` → true, `null` → null, `"06:00"` or `06:00` → '06:00'. */
export function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function effectiveText(body: Record<string, unknown>): string {
  const rules = body.rules as {
    id: string;
    enabled: boolean;
    params: Record<string, unknown>;
    sources: Record<string, string>;
  }[];
  const lines = [`${body.householdId} (rules version ${body.rulesVersion})`];
  for (const r of rules) {
    lines.push(`${r.id}${r.enabled ? '' : ' (disabled)'}`);
    for (const [k, v] of Object.entries(r.params)) {
      const source = r.sources[`params.${k}`];
      lines.push(`  ${k} = ${JSON.stringify(v)}${source === 'default' ? '' : `   ← ${source}`}`);
    }
  }
  return lines.join('\n') + '\n';
}

function historyText(body: Record<string, unknown>): string {
  const changes = body.changes as {
    version: number;
    at: number;
    actor: string;
    ruleId: string;
    old: unknown;
    new: unknown;
    reason: string;
  }[];
  if (changes.length === 0) return `${body.scope}: no changes\n`;
  return changes
    .map(
      (c) =>
        `v${c.version} ${new Date(c.at).toISOString()} ${c.actor} ${c.ruleId}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)} — ${c.reason}\n`,
    )
    .join('');
}

function fail(a: Answer): number {
  process.stderr.write(`careflow rules: ${a.body.code ?? a.status}: ${a.body.message ?? 'failed'}\n`);
  for (const i of a.body.issues ?? []) process.stderr.write(`  ${i.path}: ${i.message}\n`);
  return 1;
}

function usage(problem?: string): number {
  process.stderr.write(`${problem ? `careflow rules: ${problem}\n` : ''}${USAGE}\n`);
  return 2;
}
