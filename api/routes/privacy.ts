import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CareflowError } from '../../core/errors.ts';
import { ConsentPurpose } from '../../core/registry.ts';
import type { ErasureReport, HouseholdExport } from '../../core/store/personal-data-repo.ts';
import type { ConsentRecord } from '../../core/store/privacy-repo.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';
import { HouseholdParams } from './households.ts';
import { ConsentRecordSchema, Ms } from '../response-schemas.ts';

export const ConsentBody = z.strictObject({
  /** The purposes agreed to; `[]` records a refusal or a withdrawal. */
  purposes: z.array(ConsentPurpose).max(3),
  givenBy: z.string().trim().min(1).max(200),
  /** When the resident gave (or withdrew) it; default now. */
  givenAt: z.union([z.iso.datetime({ offset: true }), z.number().int().min(0)]).optional(),
  note: z.string().max(2000).optional(),
});
export const EraseBody = z.strictObject({
  reason: z.string().trim().min(1, 'say why (the resident’s request, its date)').max(500),
  /** The household id again, so that an erasure is never sent by mistake. */
  confirm: z.string().min(1).max(64),
});

export interface PrivacyHooks {
  /** The detectors follow a household's consent from the next bucket on. */
  consentChanged(householdId: string): void;
  /** After an erasure: flush state in flight and delete what a checkpoint wrote again. */
  erased(householdId: string, meterIds: readonly string[]): void;
  /**
   * Where a consent record is written (default: the embedded store, with the audit entry in its transaction);
   * returns the record's id. A cluster worker's writes it to the shared registry (registry/shared-consent.ts).
   */
  addConsent?: (record: Omit<ConsentRecord, 'id'>, audit: () => void) => Promise<number>;
  /** Where the export reads (default: the embedded store). A cluster worker's reads PostgreSQL. */
  exportData?: (householdId: string) => Promise<HouseholdExport>;
  /**
   * Where the erasure runs (default: the embedded store, the audit entry in its transaction); `audit` is called
   * with the report once it is done. A cluster worker's erases from PostgreSQL (cluster/household-data.ts).
   */
  erase?: (
    householdId: string,
    actor: string,
    audit: (report: ErasureReport) => void,
  ) => Promise<ErasureReport>;
}

/**
 * Personal information of a household: its consent (recorded, withdrawn, with history), an export of every
 * stored row about it, and its erasure on request. Each change is audited.
 */
export function privacyRoutes(hooks: PrivacyHooks) {
  return (app: FastifyInstance, ctx: ApiContext): void => {
    const { store, clock, access } = ctx;

    defineRoute(app, ctx, {
      method: 'GET',
      url: '/households/:id/consent',
      summary: "A household's consent in force and its history",
      tags: ['privacy'],
      permission: 'households:write',
      params: HouseholdParams,
      responses: {
        200: {
          description: 'The consent in force (null: none recorded) and every record, oldest first',
          schema: z.object({
            householdId: z.string(),
            consent: ConsentRecordSchema.nullable(),
            history: z.array(ConsentRecordSchema),
          }),
        },
      },
      handler: ({ principal, params }) => {
        access.assertHousehold(principal, params.id);
        return {
          householdId: params.id,
          consent: store.privacy.consent(params.id) ?? null,
          history: store.privacy.consentHistory(params.id),
        };
      },
    });

    defineRoute(app, ctx, {
      method: 'PUT',
      url: '/households/:id/consent',
      summary: "Record a household's consent (or its withdrawal: purposes [])",
      tags: ['privacy'],
      permission: 'households:write',
      params: HouseholdParams,
      body: ConsentBody,
      responses: {
        200: { description: 'The consent now in force', schema: z.object({ consent: ConsentRecordSchema }) },
      },
      handler: async ({ principal, params, body, audit }) => {
        const grid = access.assertHousehold(principal, params.id);
        const now = clock.now();
        const givenAt =
          body.givenAt === undefined
            ? now
            : typeof body.givenAt === 'number'
              ? body.givenAt
              : Date.parse(body.givenAt);
        const before = store.privacy.consent(params.id);
        const audited = () =>
          audit('consent.record', params.id, grid, {
            purposes: body.purposes,
            before: before?.purposes ?? null,
            givenBy: body.givenBy,
          });
        const entry = {
          householdId: params.id,
          purposes: body.purposes,
          givenBy: body.givenBy,
          givenAt,
          recordedBy: principal.id,
          recordedAt: now,
          note: body.note ?? null,
        };
        const add =
          hooks.addConsent ??
          ((r: Omit<ConsentRecord, 'id'>, done: () => void) =>
            Promise.resolve(
              store.transaction(() => {
                const id = store.privacy.addConsent(r);
                done();
                return id;
              }),
            ));
        const id = await add(entry, audited);
        const record = store.privacy.consent(params.id) ?? { id, ...entry };
        hooks.consentChanged(params.id);
        return { consent: record };
      },
    });

    defineRoute(app, ctx, {
      method: 'GET',
      url: '/households/:id/export',
      summary: 'Every stored row about a household (a resident’s access request)',
      tags: ['privacy'],
      permission: 'privacy:manage',
      params: HouseholdParams,
      responses: {
        200: {
          description: 'Every stored row about the household, by table (rows as stored)',
          schema: z.object({
            householdId: z.string(),
            exportedAt: Ms,
            data: z.record(z.string(), z.array(z.record(z.string(), z.unknown()))),
          }),
        },
      },
      handler: async ({ principal, params, audit }) => {
        const grid = access.assertHousehold(principal, params.id);
        const data = hooks.exportData
          ? await hooks.exportData(params.id)
          : store.personalData.export(params.id);
        audit('household.export', params.id, grid, {
          rows: Object.values(data).reduce((n, rows) => n + rows.length, 0),
        });
        return { householdId: params.id, exportedAt: clock.now(), data };
      },
    });

    defineRoute(app, ctx, {
      method: 'POST',
      url: '/households/:id/erase',
      summary: 'Erase a household’s personal data on request (the audit log and consent records are kept)',
      tags: ['privacy'],
      permission: 'privacy:manage',
      params: HouseholdParams,
      body: EraseBody,
      responses: {
        200: {
          description: 'What was deleted, by table, and what was kept by policy',
          schema: z.object({
            householdId: z.string(),
            deleted: z.record(z.string(), z.number().int()),
            kept: z.object({ auditEntries: z.number().int(), consentRecords: z.number().int() }),
          }),
        },
      },
      handler: async ({ principal, params, body, audit }) => {
        const grid = access.assertHousehold(principal, params.id);
        if (body.confirm !== params.id) {
          throw new CareflowError('ERR_API_VALIDATION', 'confirm must repeat the household id', [
            { path: 'confirm', message: `must be "${params.id}"` },
          ]);
        }
        const audited = (r: ErasureReport) =>
          audit('household.erase', params.id, grid, { reason: body.reason, ...r });
        if (hooks.erase) {
          const { deleted, kept } = await hooks.erase(params.id, principal.id, audited);
          hooks.consentChanged(params.id);
          return { householdId: params.id, deleted, kept };
        }
        const meterIds = store.personalData.meterIds(params.id);
        const report: ErasureReport = store.transaction(() => {
          const r = store.personalData.erase(params.id);
          audited(r);
          return r;
        });
        hooks.erased(params.id, meterIds);
        hooks.consentChanged(params.id);
        return { householdId: params.id, ...report };
      },
    });
  };
}
