import { z } from 'zod';
import { Permission, Role } from '../core/access.ts';
import { AlertState, EscalationSettings, EscalationTarget, Outcome } from '../core/alerts.ts';
import { ConsentPurpose, WorkerRole } from '../core/registry.ts';
import { RuleAudience, RuleOverride, RuleScopeLevel, Severity } from '../core/rules.ts';
import { Rule } from '../detectors/rules/index.ts';

/**
 * The JSON bodies the API answers with, as zod schemas. They build on the vocabulary the code validates with
 * (alert states, outcomes, rules, roles, escalation chains) and become the response schemas of the OpenAPI
 * document; with `CAREFLOW_CHECK_RESPONSES=1` (the tests) every answer is checked against its schema, so an
 * undocumented or missing field fails a test instead of drifting from the document.
 */

const Ms = z.number().int().describe('epoch milliseconds');
const NullableMs = Ms.nullable();
const Text = z.object({ 'zh-CN': z.string(), en: z.string() }).describe('a text in Chinese and English');
const Details = z.record(z.string(), z.unknown());
/** Opaque cursor of the next page; null on the last page. */
const Next = z.string().nullable().describe('cursor of the next page; null on the last');

export const EvidenceSchema = z.object({
  windowStart: Ms,
  windowEnd: Ms,
  buckets: z.array(z.number().nullable()).optional().describe('liters per bucket; null = unknown'),
  totalLiters: z.number().optional(),
  thresholds: z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()])),
  ruleVersion: z.number().int(),
  lastReadingAt: Ms.optional(),
});

export const AlertSchema = z.object({
  id: z.string(),
  householdId: z.string(),
  gridCode: z.string(),
  ruleId: z.string(),
  severity: Severity,
  audience: RuleAudience,
  state: AlertState,
  openedAt: Ms,
  updatedAt: Ms,
  acknowledgedAt: NullableMs,
  acknowledgedBy: z.string().nullable(),
  resolvedAt: NullableMs,
  resolvedBy: z.string().nullable(),
  outcome: Outcome.nullable(),
  note: z.string().nullable(),
  evidence: EvidenceSchema,
});

export const AlertListItemSchema = AlertSchema.extend({
  address: z.string(),
  escalationLevel: z.number().int().nullable().describe('escalation level reached (0 = first); null: none'),
  message: Text.nullable(),
});

export const TimelineEntrySchema = z.object({
  at: Ms,
  kind: z.string(),
  actor: z.string().nullable(),
  detail: Details,
});

export const AlertEventSchema = TimelineEntrySchema.extend({
  id: z.number().int().describe('the event id (Last-Event-ID)'),
  alert: z.object({
    id: z.string(),
    householdId: z.string(),
    grid: z.string(),
    ruleId: z.string(),
    severity: Severity,
    state: AlertState,
  }),
});

export const AlertAnswer = z.object({ alert: AlertSchema });

export const ScopeSchema = z.object({
  all: z.boolean(),
  streets: z.array(z.string()),
  communities: z.array(z.string()),
  grids: z.array(z.string()),
  buildings: z.array(z.string()).optional(),
  units: z.array(z.string()).optional(),
  households: z.array(z.string()).optional(),
  meters: z.array(z.string()).optional(),
});

export const ApiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  role: Role,
  scope: ScopeSchema,
  createdAt: Ms,
  createdBy: z.string(),
  revokedAt: NullableMs,
});

export const AuditEntrySchema = z.object({
  id: z.number().int(),
  at: Ms,
  actor: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  grid: z.string().nullable(),
  detail: Details,
  ip: z.string().nullable(),
});

export const AwaySpanSchema = z.object({
  id: z.number().int(),
  householdId: z.string(),
  from: Ms,
  until: Ms,
  reason: z.string().nullable(),
  setBy: z.string(),
  setAt: Ms,
  clearedAt: NullableMs,
  clearedBy: z.string().nullable(),
});

export const HouseholdSchema = z.object({
  id: z.string(),
  gridCode: z.string(),
  address: z.string(),
  livesAlone: z.boolean(),
  elderly: z.boolean(),
  awayUntil: NullableMs,
  notes: z.string().nullable(),
  building: z.string().nullable().optional(),
  unit: z.string().nullable().optional(),
});

export const HouseholdListItemSchema = z.object({
  id: z.string(),
  gridCode: z.string(),
  address: z.string(),
  livesAlone: z.boolean(),
  elderly: z.boolean(),
  notes: z.string().nullable(),
  lastReadingAt: NullableMs.describe('end of the newest bucket with a known reading'),
  openAlerts: z.number().int(),
  meterSilent: z.boolean().describe('an open alert of a maintenance rule'),
  away: z.boolean(),
});

export const WorkerSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: WorkerRole,
  grids: z.array(z.string()),
});

export const DeadLetterSchema = z.object({
  id: z.number().int(),
  receivedAt: Ms,
  meterId: z.string().nullable(),
  topic: z.string().nullable(),
  code: z.string().describe('reason code (docs/errors.md)'),
  message: z.string(),
  field: z.string().nullable(),
  excerpt: z.string().nullable(),
  householdId: z.string().nullable(),
  grid: z.string().nullable(),
});

export const ConsentRecordSchema = z.object({
  id: z.number().int(),
  householdId: z.string(),
  purposes: z.array(ConsentPurpose).describe('empty: refused or withdrawn'),
  givenBy: z.string(),
  givenAt: Ms,
  recordedBy: z.string(),
  recordedAt: Ms,
  note: z.string().nullable(),
});

export const EscalationAnswer = z.object({
  scope: z.string(),
  code: z.string(),
  settings: EscalationSettings,
  updatedAt: Ms.optional(),
});

export const EffectiveEscalation = z.object({
  household: z.string(),
  grid: z.string(),
  chains: z.record(
    RuleAudience,
    z.object({
      source: z.string(),
      reminderMinutes: z.number().int(),
      levels: z.array(
        z.object({
          level: z.number().int(),
          notify: EscalationTarget,
          afterMinutes: z.number().int(),
          people: z.array(z.object({ id: z.string(), name: z.string(), role: WorkerRole })),
        }),
      ),
    }),
  ),
});

/** A rule as it applies to one household, with the scope each value comes from. */
const EffectiveRule = z.union(
  Rule.options.map((o) =>
    o.extend({
      sources: z.record(z.string(), z.string()).describe('where each value comes from: `grid:g1`'),
    }),
  ) as unknown as [z.ZodType, ...z.ZodType[]],
);

export const EffectiveRulesSchema = z.object({
  householdId: z.string(),
  place: z
    .object({
      household: z.string(),
      grid: z.string(),
      community: z.string(),
      street: z.string(),
      district: z.string().optional(),
      building: z.string().optional(),
    })
    .nullable(),
  rulesVersion: z.number().int(),
  rules: z.array(EffectiveRule),
  learned: Details.optional().describe('what the detectors learned about the household (peaks, baseline)'),
});

export const RuleChangeSchema = z.object({
  version: z.number().int(),
  at: Ms,
  actor: z.string(),
  scope: z.object({ level: RuleScopeLevel, code: z.string() }),
  ruleId: z.string(),
  old: RuleOverride.nullable(),
  new: RuleOverride.nullable(),
  reason: z.string(),
});

export const MeAnswer = z.object({
  id: z.string(),
  name: z.string(),
  role: Role,
  permissions: z.array(Permission),
  scope: ScopeSchema,
  grids: z.array(z.string()).nullable().describe('the grids the caller sees; null: all'),
  timeZone: z.string(),
  now: Ms,
});

export const WebhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  owner: z.object({ kind: z.enum(['worker', 'grid', 'community', 'street', 'global']), code: z.string() }),
  enabled: z.boolean(),
  createdAt: Ms,
  updatedAt: Ms,
  updatedBy: z.string(),
});

export const UsageBucketSchema = z.object({
  start: Ms,
  end: Ms,
  liters: z.number().nullable().describe('null = unknown: no data is not zero use'),
});

export { Ms, NullableMs, Next, Text, Details };
