import { LocalTime } from '../core/local-time.ts';
import type { ScoreReport } from './score.ts';

/** The score as a markdown report: targets first, then the tables, then the evidence behind misses and false alarms. */
export function scoreMarkdown(r: ScoreReport): string {
  const lt = new LocalTime(r.run.timezone, r.run.bucketMinutes);
  const when = (ms: number | null) => (ms === null ? '—' : lt.format(ms));
  const num = (v: number | null, digits = 2) => (v === null ? '—' : v.toFixed(digits));
  const liters = (xs: (number | null)[]) =>
    xs.map((v) => (v === null ? '·' : String(Math.round(v)))).join(' ');
  const lines: string[] = [];
  const row = (...cells: (string | number)[]) => lines.push(`| ${cells.join(' | ')} |`);
  const head = (...cells: string[]) => {
    row(...cells);
    row(...cells.map(() => '---'));
  };

  lines.push(`# careflow detection score — \`${r.run.mix}\`, seed ${r.run.seed}`, '');
  lines.push(
    `${r.run.households} households × ${r.run.days} days (${when(r.run.start)} to ${when(r.run.end)} ${r.run.timezone}), ` +
      `${r.run.target} careflow, ${r.run.readings.toLocaleString('en')} readings in ${r.run.messages.toLocaleString('en')} MQTT messages, ` +
      `simulated in ${(r.run.durationMs / 1000).toFixed(0)} s. Simulated grid workers closed welfare alerts ` +
      (r.run.respondAfterMinutes > 0 ? `${r.run.respondAfterMinutes} min after detection.` : 'never.'),
    '',
  );
  const away = r.run.away;
  if (away.api + away.registry + away.notApplied > 0) {
    lines.push(
      `Marked-away scenarios applied: ${away.api} through \`PUT /api/households/:id/away\`, ${away.registry} through the registry ` +
        `(the route was missing), ${away.notApplied} not applied.`,
      '',
    );
  }
  const errors = Object.entries(r.run.meterErrors);
  if (errors.length > 0)
    lines.push(`Error replies to meters: ${errors.map(([c, n]) => `${c} × ${n}`).join(', ')}.`, '');

  lines.push('## Targets', '');
  head('target', 'goal', 'value', 'met');
  for (const t of r.targets) row(t.name, t.target, num(t.value), t.met ? 'yes' : '**no**');
  lines.push('');

  lines.push('## Per scenario type', '');
  lines.push(
    'Recall counts every instance except those the run ended too early to show; delays are in buckets after the condition became observable (event time), notification delay on the service clock.',
    '',
  );
  head(
    'scenario',
    'expect',
    'instances',
    'observable',
    'never observable',
    'detected',
    'recall',
    'precision',
    'delay median',
    'delay p95',
    'notify median',
    'notify p95',
    'alerts charged',
    'hits by rule',
  );
  for (const s of r.scenarios) {
    const hits = Object.entries(s.hitsByRule)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    row(
      s.scenario,
      s.expect,
      s.instances,
      s.expect === 'alert' ? s.observable : '—',
      s.expect === 'alert' ? s.rulesCannotSee : '—',
      s.expect === 'alert' ? s.detected : '—',
      num(s.recall),
      num(s.precision),
      num(s.delayBuckets.median, 1),
      num(s.delayBuckets.p95, 1),
      num(s.notifyDelayBuckets.median, 1),
      num(s.notifyDelayBuckets.p95, 1),
      s.falseAlerts,
      hits || '—',
    );
  }
  lines.push('');

  lines.push('## Per rule', '');
  head('rule', 'audience', 'alerts', 'matched', 'false', 'precision', 'false per household-month');
  for (const x of r.rules)
    row(x.ruleId, x.audience, x.alerts, x.hits, x.false, num(x.precision), num(x.falsePerHouseholdMonth, 3));
  lines.push('');

  const fw = r.falseWelfare;
  lines.push('## False welfare alerts', '');
  lines.push(
    `${fw.total} false welfare alerts over ${r.householdMonths.toFixed(0)} household-months: **${fw.perHouseholdMonth.toFixed(2)} per household-month**.`,
    '',
  );
  lines.push(`By rule: ${entries(fw.byRule)}. By cause: ${entries(fw.byCause)}.`, '');
  head('profile', 'households', 'false welfare alerts', 'per household-month');
  for (const [k, v] of Object.entries(fw.byProfile)) row(k, v.households, v.alerts, num(v.perHouseholdMonth));
  lines.push('');
  head('meter', 'households', 'false welfare alerts', 'per household-month');
  for (const [k, v] of Object.entries(fw.byMeterMode))
    row(k, v.households, v.alerts, num(v.perHouseholdMonth));
  lines.push('');
  lines.push(
    `Maintenance (meter-silent): ${r.maintenance.alerts} alerts, ${r.maintenance.false} without a silent scenario; by meter: ${entries(r.maintenance.byMeterMode)}.`,
    '',
  );

  if (r.falseExamples.length > 0) {
    lines.push('### Households with the most false welfare alerts', '');
    lines.push(
      'Bucket values are the last buckets of the rule window the alert fired on (liters per hour).',
      '',
    );
    for (const e of r.falseExamples) {
      lines.push(
        `- **${e.householdId}** (${e.profile}, ${e.meterMode}, ${e.cause}): ${e.alerts.length} alerts`,
      );
      for (const a of e.alerts.slice(0, 3)) {
        const b = a.buckets ? ` — buckets ${liters(a.buckets)}` : '';
        lines.push(
          `  - ${a.ruleId} at ${when(a.openedAt)}${b}${a.totalLiters !== undefined ? ` (total ${Math.round(a.totalLiters)} L)` : ''}`,
        );
      }
    }
    lines.push('');
  }
  if (r.misses.length > 0) {
    lines.push('## Missed detections', '');
    lines.push(
      'Usage is what careflow stored, hourly, from a day before the condition became observable (· = unknown).',
      '',
    );
    for (const m of r.misses.slice(0, 25)) {
      const seen =
        m.observableAt === null
          ? `never observable (${m.unobservable ?? '?'})`
          : `observable ${when(m.observableAt)}`;
      lines.push(
        `- **${m.householdId}** ${m.scenario} (${m.profile}, ${m.meterMode}), ${seen}; alerts: ${m.alerts.length > 0 ? m.alerts.map((a) => a.replace(/@(\d+)/, (_, t: string) => ` ${when(Number(t))}`)).join(', ') : 'none'}`,
      );
      if (m.usage) lines.push(`  - from ${when(m.usage.from)}: ${liters(m.usage.liters)}`);
    }
    if (r.misses.length > 25) lines.push(`- … and ${r.misses.length - 25} more (see the JSON report)`);
    lines.push('');
  }
  return lines.join('\n') + '\n';
}

function entries(o: Record<string, number>): string {
  const list = Object.entries(o).sort((a, b) => b[1] - a[1]);
  return list.length > 0 ? list.map(([k, v]) => `${k} ${v}`).join(', ') : 'none';
}
