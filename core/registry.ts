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

export const WorkerRole = z.enum(['grid-worker', 'grid-leader', 'community-staff', 'street-staff', 'admin']);
export type WorkerRole = z.infer<typeof WorkerRole>;

export const StreetEntry = z.looseObject({ code: Code, name: z.string().min(1).max(200) });
export const CommunityEntry = z.looseObject({ code: Code, street: Code, name: z.string().min(1).max(200) });
export const GridEntry = z.looseObject({ code: Code, community: Code, name: z.string().min(1).max(200) });
export const WorkerEntry = z.looseObject({
  id: ClientId,
  name: z.string().min(1).max(200),
  role: WorkerRole.default('grid-worker'),
  /** Grids the person works in (alerts of these grids' households are routed to them). */
  grids: z.array(Code).default([]),
  /** For community staff and street staff: the communities / street offices they answer for. */
  communities: z.array(Code).default([]),
  streets: z.array(Code).default([]),
  /** Device secret for the worker app's MQTT login. */
  secret: Secret,
  /** Password for the console and `POST /api/login` (optional; stored as a scrypt hash). */
  password: z.string().min(10, 'passwords must be at least 10 characters').max(256).optional(),
  phone: z.string().max(40).optional(),
});
export const HouseholdEntry = z.looseObject({
  id: Code,
  grid: Code,
  address: z.string().min(1).max(500),
  livesAlone: z.boolean().default(false),
  elderly: z.boolean().default(false),
  awayUntil: z.iso.datetime({ offset: true }).nullable().optional(),
  notes: z.string().max(2000).optional(),
});
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
  streets: z.array(StreetEntry).default([]),
  communities: z.array(CommunityEntry).default([]),
  grids: z.array(GridEntry).default([]),
  workers: z.array(WorkerEntry).default([]),
  households: z.array(HouseholdEntry).default([]),
  meters: z.array(MeterEntry).default([]),
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
}

export interface Worker {
  id: string;
  name: string;
  role: WorkerRole;
  grids: string[];
}
