import { z } from 'zod';
import { ClientId } from './readings.ts';

/**
 * The organisation careflow serves: street office → community → grid → household → meter, and the people
 * assigned to grids. This is the shape of a registry file for `careflow import` (extra fields are allowed).
 */
const Code = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits and . _ - (1-64 characters)');
const Secret = z.string().min(8, 'secrets must be at least 8 characters').max(256);

export const WorkerRole = z.enum([
  'grid-worker',
  'grid-leader',
  'community-staff',
  'street-staff',
  'admin',
  // Neighbours who can be at a door in minutes (楼长, 单元长), and a resident's relatives (the `family` section).
  'building-head',
  'unit-head',
  'family',
]);
export type WorkerRole = z.infer<typeof WorkerRole>;

export const DistrictEntry = z.looseObject({ code: Code, name: z.string().min(1).max(200) });
/** `district` is optional: today's files, which stop at the street office, stay valid. */
export const StreetEntry = z.looseObject({
  code: Code,
  name: z.string().min(1).max(200),
  district: Code.optional(),
});
export const CommunityEntry = z.looseObject({ code: Code, street: Code, name: z.string().min(1).max(200) });
export const GridEntry = z.looseObject({ code: Code, community: Code, name: z.string().min(1).max(200) });
/** A building (楼) of a grid; in rural areas a lane (街巷). */
export const BuildingEntry = z.looseObject({ code: Code, grid: Code, name: z.string().min(1).max(200) });
/** A unit (单元, one stairwell) of a building. */
export const UnitEntry = z.looseObject({ code: Code, building: Code, name: z.string().min(1).max(200) });

/** Why careflow may process a household's water use: each purpose needs the resident's consent. */
export const ConsentPurpose = z.enum(['welfare', 'leak', 'family']);
export type ConsentPurpose = z.infer<typeof ConsentPurpose>;
export const ConsentEntry = z.strictObject({
  /** The purposes agreed to; an empty list records a refusal or a withdrawal. */
  purposes: z.array(ConsentPurpose).max(3),
  /** Who gave it: the resident, or who signed for them (a guardian). */
  givenBy: z.string().min(1).max(200),
  givenAt: z.iso.datetime({ offset: true }),
  note: z.string().max(2000).optional(),
});
export type ConsentEntry = z.infer<typeof ConsentEntry>;
/** An SMS or messaging gateway that receives a person's messages, each call signed with `secret`. */
export const WebhookEntry = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).max(2000),
  secret: z.string().min(16, 'webhook secrets must be at least 16 characters').max(256),
});
export const WorkerEntry = z.looseObject({
  id: ClientId,
  name: z.string().min(1).max(200),
  role: WorkerRole.default('grid-worker'),
  /** Grids the person works in (alerts of these grids' households are routed to them). */
  grids: z.array(Code).default([]),
  /** For community staff and street staff: the communities / street offices they answer for. */
  communities: z.array(Code).default([]),
  streets: z.array(Code).default([]),
  /** For building heads and unit heads: the buildings / units they look after. */
  buildings: z.array(Code).default([]),
  units: z.array(Code).default([]),
  /** Device secret for the worker app's MQTT login. */
  secret: Secret,
  /** Password for the console and `POST /api/login` (optional; stored as a scrypt hash). */
  password: z.string().min(10, 'passwords must be at least 10 characters').max(256).optional(),
  phone: z.string().max(40).optional(),
  /** The person's webhook (endpoint `person.<id>`), e.g. a building head without the app. */
  webhook: WebhookEntry.optional(),
});
export const HouseholdEntry = z.looseObject({
  id: Code,
  grid: Code,
  address: z.string().min(1).max(500),
  livesAlone: z.boolean().default(false),
  elderly: z.boolean().default(false),
  awayUntil: z.iso.datetime({ offset: true }).nullable().optional(),
  notes: z.string().max(2000).optional(),
  /** The building and unit the household lives in (optional; a unit implies its building). */
  building: Code.optional(),
  unit: Code.optional(),
  /** The resident's consent, recorded when it changes (absent: the stored record stays). */
  consent: ConsentEntry.optional(),
});
/** A relative told of the household's alerts, with the resident's consent to family notification. */
export const FamilyEntry = z.looseObject({
  id: ClientId,
  household: Code,
  name: z.string().min(1).max(200),
  relation: z.string().max(100).optional(),
  phone: z.string().max(40).optional(),
  /** The alerts the household chose to share with this relative. */
  audiences: z
    .array(z.enum(['welfare', 'leak', 'maintenance']))
    .min(1)
    .default(['welfare']),
  /** Webhook (SMS or messaging gateway) that receives this relative's messages, signed with `secret`. */
  webhook: WebhookEntry.optional(),
  /** Password for `POST /api/login` (to acknowledge in the console); optional. */
  password: z.string().min(10, 'passwords must be at least 10 characters').max(256).optional(),
  /** MQTT secret for an app (optional). */
  secret: Secret.optional(),
});
export type FamilyEntry = z.infer<typeof FamilyEntry>;
export const MeterEntry = z.looseObject({
  id: ClientId,
  household: Code,
  secret: Secret,
  /**
   * How often the meter sends, in minutes (a daily-upload NB-IoT meter: 1440). Optional: careflow learns it
   * from arrivals; declared, `meter-silent` knows it from the first message on.
   */
  reportEveryMinutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .optional(),
});

export const RegistryFile = z.looseObject({
  districts: z.array(DistrictEntry).default([]),
  streets: z.array(StreetEntry).default([]),
  communities: z.array(CommunityEntry).default([]),
  grids: z.array(GridEntry).default([]),
  buildings: z.array(BuildingEntry).default([]),
  units: z.array(UnitEntry).default([]),
  workers: z.array(WorkerEntry).default([]),
  households: z.array(HouseholdEntry).default([]),
  meters: z.array(MeterEntry).default([]),
  family: z.array(FamilyEntry).default([]),
});
export type RegistryFile = z.infer<typeof RegistryFile>;
export type RegistryInput = z.input<typeof RegistryFile>;

export interface Household {
  id: string;
  gridCode: string;
  address: string;
  livesAlone: boolean;
  elderly: boolean;
  awayUntil: number | null;
  notes: string | null;
  /** Building and unit (null when the registry does not say). */
  building?: string | null;
  unit?: string | null;
}

export interface Worker {
  id: string;
  name: string;
  role: WorkerRole;
  grids: string[];
}
