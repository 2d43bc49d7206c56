import type { ConsentPurpose } from '../registry.ts';
import type { RuleAudience } from '../rules.ts';
import type { Db } from './open-store.ts';

/** One consent record: what a resident agreed to, who gave it and who recorded it. Records are never edited. */
export interface ConsentRecord {
  id: number;
  householdId: string;
  /** Empty: refused or withdrawn. */
  purposes: ConsentPurpose[];
  givenBy: string;
  givenAt: number;
  recordedBy: string;
  recordedAt: number;
  note: string | null;
}

/** A relative told of a household's alerts (a person row with role `family`). */
export interface FamilyContact {
  id: string;
  householdId: string;
  name: string;
  relation: string | null;
  phone: string | null;
  audiences: RuleAudience[];
}

/**
 * Consent per household (append-only: the latest record is the one in force, the earlier ones prove what was
 * agreed when) and family contacts.
 */
export class PrivacyRepo {
  private readonly s;
  /** Consent writes through this connection (other connections' show in `data_version`). */
  private localWrites = 0;

  constructor(private readonly db: Db) {
    this.s = {
      addConsent: db.prepare(
        `INSERT INTO consent_records (household_id, purposes, given_by, given_at, recorded_by, recorded_at, note)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      latest: db.prepare('SELECT * FROM consent_records WHERE household_id = ? ORDER BY id DESC LIMIT 1'),
      history: db.prepare('SELECT * FROM consent_records WHERE household_id = ? ORDER BY id'),
      allLatest: db.prepare(
        `SELECT c.* FROM consent_records c
         JOIN (SELECT household_id, max(id) AS id FROM consent_records GROUP BY household_id) m ON m.id = c.id`,
      ),
      putFamily: db.prepare(
        `INSERT INTO family_contacts (worker_id, household_id, relation, audiences) VALUES (?, ?, ?, ?)
         ON CONFLICT(worker_id) DO UPDATE SET household_id = excluded.household_id,
           relation = excluded.relation, audiences = excluded.audiences`,
      ),
      familyOf: db.prepare(
        `SELECT f.worker_id AS id, f.household_id AS householdId, w.name, f.relation, w.phone, f.audiences
         FROM family_contacts f JOIN workers w ON w.id = f.worker_id WHERE f.household_id = ? ORDER BY f.worker_id`,
      ),
      family: db.prepare(
        `SELECT f.worker_id AS id, f.household_id AS householdId, w.name, f.relation, w.phone, f.audiences
         FROM family_contacts f JOIN workers w ON w.id = f.worker_id WHERE f.worker_id = ?`,
      ),
    };
  }

  addConsent(r: Omit<ConsentRecord, 'id'>): number {
    const id = Number(
      this.s.addConsent.run(
        r.householdId,
        JSON.stringify([...new Set(r.purposes)].sort()),
        r.givenBy,
        r.givenAt,
        r.recordedBy,
        r.recordedAt,
        r.note,
      ).lastInsertRowid,
    );
    this.localWrites++;
    return id;
  }

  /** The consent in force (undefined: none was ever recorded). */
  consent(householdId: string): ConsentRecord | undefined {
    const row = this.s.latest.get(householdId) as ConsentRow | undefined;
    return row && fromRow(row);
  }

  consentHistory(householdId: string): ConsentRecord[] {
    return (this.s.history.all(householdId) as ConsentRow[]).map(fromRow);
  }

  /** The consent in force for every household that has a record. */
  allConsents(): ConsentRecord[] {
    return (this.s.allLatest.all() as ConsentRow[]).map(fromRow);
  }

  /** Changes whenever consent may have changed (here or through another connection). */
  revision(): string {
    return `${String(this.db.pragma('data_version', { simple: true }))}:${this.localWrites}`;
  }

  putFamily(workerId: string, householdId: string, relation: string | null, audiences: RuleAudience[]): void {
    this.s.putFamily.run(workerId, householdId, relation, JSON.stringify(audiences));
  }

  familyOf(householdId: string): FamilyContact[] {
    return (this.s.familyOf.all(householdId) as FamilyRow[]).map(fromFamilyRow);
  }

  family(id: string): FamilyContact | undefined {
    const row = this.s.family.get(id) as FamilyRow | undefined;
    return row && fromFamilyRow(row);
  }
}

interface ConsentRow {
  id: number;
  household_id: string;
  purposes: string;
  given_by: string;
  given_at: number;
  recorded_by: string;
  recorded_at: number;
  note: string | null;
}

interface FamilyRow {
  id: string;
  householdId: string;
  name: string;
  relation: string | null;
  phone: string | null;
  audiences: string;
}

function fromRow(r: ConsentRow): ConsentRecord {
  return {
    id: r.id,
    householdId: r.household_id,
    purposes: JSON.parse(r.purposes) as ConsentPurpose[],
    givenBy: r.given_by,
    givenAt: r.given_at,
    recordedBy: r.recorded_by,
    recordedAt: r.recorded_at,
    note: r.note,
  };
}

function fromFamilyRow(r: FamilyRow): FamilyContact {
  return { ...r, audiences: JSON.parse(r.audiences) as RuleAudience[] };
}
