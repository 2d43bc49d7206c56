import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Detection } from '../core/streams.ts';
import type { RuleAudience } from '../core/rules.ts';
import { loginAs } from './delivery-harness.ts';
import { ADMIN_TOKEN, HOUR, startTestService, T0, type TestService } from './harness.ts';
import { organisationRegistry } from './organisation-registry.ts';

/**
 * Roll-up reports (issue 16): alert counts, acknowledgement times and outcomes of every unit, building, grid,
 * community, street and district equal the sums of their parts — checked on every node of the tree, each
 * part also asked for on its own — and the callers' areas bound what they may ask for.
 */
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
let svc: TestService;

const RULES: Record<string, { type: Detection['ruleType']; audience: RuleAudience }> = {
  'low-use': { type: 'sustained-low', audience: 'welfare' },
  'continuous-flow': { type: 'sustained-high', audience: 'leak' },
  'meter-silent': { type: 'silent', audience: 'maintenance' },
};

function detection(householdId: string, ruleId: string, at: number): Detection {
  return {
    key: `${householdId}|${ruleId}|opened|${at}`,
    householdId,
    ruleId,
    ruleType: RULES[ruleId]!.type,
    kind: 'opened',
    at,
    evidence: { windowStart: at - 24 * HOUR, windowEnd: at, totalLiters: 0, thresholds: {}, ruleVersion: 1 },
    severity: 'warning',
    audience: RULES[ruleId]!.audience,
    autoResolve: false,
  };
}

beforeAll(async () => {
  svc = await startTestService({
    registry: organisationRegistry({ h1: 'http://127.0.0.1:9/a', h3: 'http://127.0.0.1:9/b' }),
  });
  const actions = svc.cf.notifier.actions;
  // Alerts in every kind of place (h6 is in no building), acknowledged after different waits, some resolved.
  const plan: [string, string, number | null, string | null][] = [
    ['h1', 'low-use', 5, 'resident-helped'],
    ['h1', 'continuous-flow', 20, null],
    ['h2', 'low-use', null, null],
    ['h3', 'meter-silent', 7, 'meter-fault'],
    ['h3', 'low-use', 90, 'false-alarm'],
    ['h4', 'continuous-flow', 12, 'leak-repaired'],
    ['h5', 'low-use', 33, null],
    ['h6', 'continuous-flow', null, null],
    ['h6', 'meter-silent', 2, 'other'],
  ];
  let t = T0 + 30 * HOUR;
  for (const [hid, rule, ackAfterMinutes, outcome] of plan) {
    svc.clock.advanceTo(t);
    const alert = actions.applyDetection(detection(hid, rule, t - HOUR))!;
    if (ackAfterMinutes !== null) {
      svc.clock.advanceTo(t + ackAfterMinutes * 60_000);
      actions.acknowledge(alert.id, 'w-g1');
      if (outcome) actions.resolve(alert.id, 'w-g1', outcome as never, null);
    }
    t += 2 * HOUR;
  }
});

afterAll(async () => {
  await svc.dispose();
});

interface Figures {
  alerts: number;
  open: number;
  acknowledged: number;
  resolved: number;
  byAudience: Record<string, number>;
  outcomes: Record<string, number>;
  acknowledgedAlerts: number;
  timeToAcknowledgeMsTotal: number;
  meanTimeToAcknowledgeMs: number | null;
}
interface Report {
  level: string;
  code: string;
  figures: Figures;
  parts: { level: string; code: string | null; figures: Figures }[];
}

async function rollup(level: string, code: string, headers = ADMIN) {
  return svc.cf.http.inject({
    method: 'GET',
    url: `/api/reports/rollup?level=${level}&code=${code}&from=${T0}&to=${T0 + 60 * HOUR}`,
    headers,
  });
}

type Sums = Omit<Figures, 'meanTimeToAcknowledgeMs'>;
function sum(parts: Figures[]): Sums {
  const add = (a: Record<string, number>, b: Record<string, number>) => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  return parts.reduce<Sums>(
    (s, f) => ({
      alerts: s.alerts + f.alerts,
      open: s.open + f.open,
      acknowledged: s.acknowledged + f.acknowledged,
      resolved: s.resolved + f.resolved,
      byAudience: add(s.byAudience, f.byAudience),
      outcomes: add(s.outcomes, f.outcomes),
      acknowledgedAlerts: s.acknowledgedAlerts + f.acknowledgedAlerts,
      timeToAcknowledgeMsTotal: s.timeToAcknowledgeMsTotal + f.timeToAcknowledgeMsTotal,
    }),
    {
      alerts: 0,
      open: 0,
      acknowledged: 0,
      resolved: 0,
      byAudience: { welfare: 0, leak: 0, maintenance: 0 },
      outcomes: {},
      acknowledgedAlerts: 0,
      timeToAcknowledgeMsTotal: 0,
    },
  );
}

describe('roll-up reports from unit to district', () => {
  it('gives every level figures equal to the sum of its parts, down to each unit', async () => {
    const visited: string[] = [];
    const walk = async (level: string, code: string): Promise<Figures> => {
      const res = await rollup(level, code);
      expect(res.statusCode, `${level}:${code}`).toBe(200);
      const r = res.json() as Report;
      visited.push(`${level}:${code}`);
      if (r.parts.length > 0) {
        const { meanTimeToAcknowledgeMs: _mean, ...own } = r.figures;
        expect(sum(r.parts.map((p) => p.figures)), `${level}:${code}`).toEqual(own);
      }
      for (const p of r.parts) {
        if (p.code === null) continue; // households placed in no building: no report of their own
        expect(await walk(p.level, p.code), `${p.level}:${p.code}`).toEqual(p.figures);
      }
      return r.figures;
    };
    const district = await walk('district', 'd1');
    expect(visited).toEqual([
      'district:d1',
      'street:s1',
      'community:c1',
      'grid:g1',
      'building:b1',
      'unit:b1-u1',
      'unit:b1-u2',
      'building:b2',
      'unit:b2-u1',
      'street:s2',
      'community:c2',
      'grid:g2',
      'building:b3',
      'unit:b3-u1',
    ]);
    // The figures themselves, worked out by hand from the plan above.
    expect(district).toEqual({
      alerts: 9,
      open: 2,
      acknowledged: 2,
      resolved: 5,
      byAudience: { welfare: 4, leak: 3, maintenance: 2 },
      outcomes: { 'resident-helped': 1, 'meter-fault': 1, 'false-alarm': 1, 'leak-repaired': 1, other: 1 },
      acknowledgedAlerts: 7,
      timeToAcknowledgeMsTotal: (5 + 20 + 7 + 90 + 12 + 33 + 2) * 60_000,
      meanTimeToAcknowledgeMs: Math.round(((5 + 20 + 7 + 90 + 12 + 33 + 2) * 60_000) / 7),
    });
    const g1 = (await rollup('grid', 'g1')).json() as Report;
    expect(g1.parts.find((p) => p.code === null)!.figures.alerts).toBe(2); // h6's two alerts
    const b1 = (await rollup('building', 'b1')).json() as Report;
    expect(b1.figures.alerts).toBe(4); // h1 ×2, h2, h5
    expect(b1.parts.find((p) => p.code === null)!.figures.alerts).toBe(1); // h5: building b1, no unit
  });

  it('answers only for the caller’s own area', async () => {
    const staff = await loginAs(svc, 'cs-c1');
    expect((await rollup('community', 'c1', staff)).statusCode).toBe(200);
    expect((await rollup('unit', 'b1-u1', staff)).statusCode).toBe(200);
    expect((await rollup('community', 'c2', staff)).statusCode).toBe(403);
    expect((await rollup('unit', 'b3-u1', staff)).statusCode).toBe(403);
    expect((await rollup('district', 'd1', staff)).statusCode).toBe(403);
    const street = await loginAs(svc, 'ss-s1');
    expect((await rollup('street', 's1', street)).statusCode).toBe(200);
    expect((await rollup('district', 'd1', street)).statusCode).toBe(403); // s2 is not theirs
    const worker = await loginAs(svc, 'w-g1');
    expect((await rollup('grid', 'g1', worker)).statusCode).toBe(403); // no stats:read
    expect((await rollup('grid', 'nope')).statusCode).toBe(404);
  });
});
