/**
 * Every error careflow reports has a stable code from this one registry.
 * `docs/errors.md` documents each code; `core/errors.test.ts` keeps the two in step.
 */
export const ERRORS = {
  ERR_CONFIG_INVALID: { status: 500, message: 'The configuration is invalid' },
  ERR_REGISTRY_INVALID: { status: 400, message: 'The registry file does not match the registry schema' },
  ERR_REGISTRY_REFERENCE: { status: 400, message: 'The registry refers to an entry that does not exist' },
  ERR_INGEST_PAYLOAD_MALFORMED: { status: 400, message: 'The payload is not valid JSON' },
  ERR_INGEST_PAYLOAD_INVALID: { status: 400, message: 'The payload does not match the reading schema' },
  ERR_INGEST_PAYLOAD_TOO_LARGE: { status: 413, message: 'The payload is larger than the configured maximum' },
  ERR_INGEST_PACKET_TOO_LARGE: {
    status: 413,
    message: 'The MQTT packet is larger than the hard packet limit; the connection was closed',
  },
  ERR_INGEST_TIMESTAMP_FUTURE: { status: 400, message: 'The reading is timestamped in the future' },
  ERR_INGEST_UNKNOWN_METER: { status: 404, message: 'The meter is not registered' },
  ERR_INGEST_RATE_LIMITED: {
    status: 429,
    message: 'The meter sent more readings than its per-minute allowance; the excess was dead-lettered',
  },
  ERR_INGEST_QUEUE_UNAVAILABLE: {
    status: 503,
    message:
      "The cluster's readings queue did not take the readings; nothing of them is stored: send them again",
  },
  ERR_BROKER_AUTH_FAILED: { status: 401, message: 'Unknown client or wrong secret' },
  ERR_BROKER_TOPIC_FORBIDDEN: { status: 403, message: 'The client may not use this topic' },
  ERR_BROKER_THROTTLED: {
    status: 503,
    message: 'Too many failed or pending MQTT connections; the connection was refused without a check',
  },
  ERR_BROKER_CLIENT_ID_REFUSED: {
    status: 403,
    message: 'The MQTT client id belongs to another client, or a persistent session came without one',
  },
  ERR_API_UNAUTHORIZED: { status: 401, message: 'A valid bearer token is required' },
  ERR_API_FORBIDDEN: { status: 403, message: 'The caller may not do this' },
  ERR_API_NOT_FOUND: { status: 404, message: 'No such route' },
  ERR_API_VALIDATION: { status: 400, message: 'The request does not match the schema' },
  ERR_API_BAD_JSON: { status: 400, message: 'The request body is not valid JSON' },
  ERR_API_BODY_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  ERR_API_RATE_LIMITED: { status: 429, message: 'Too many requests; try again later' },
  ERR_API_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be application/json' },
  ERR_ALERT_NOT_FOUND: { status: 404, message: 'No such alert' },
  ERR_ALERT_STATE_CONFLICT: { status: 409, message: 'The alert is not in a state that allows this action' },
  ERR_HOUSEHOLD_NOT_FOUND: { status: 404, message: 'No such household' },
  ERR_RULES_INVALID: { status: 400, message: 'The rule change would make a rule invalid' },
  ERR_SCOPE_NOT_FOUND: { status: 404, message: 'No such street, community or grid' },
  ERR_WEBHOOK_NOT_FOUND: { status: 404, message: 'No such webhook endpoint' },
  ERR_CLOCK_NOT_MANUAL: {
    status: 409,
    message: 'The service runs on the system clock; start it with CAREFLOW_CLOCK=manual to drive its time',
  },
  ERR_CLOCK_BACKWARDS: { status: 409, message: 'The simulated clock only moves forward' },
  ERR_REPLAY_FILE_INVALID: { status: 400, message: 'The recording cannot be read' },
  ERR_REPLAY_ROW_INVALID: { status: 400, message: 'A row of the recording is not a reading' },
  ERR_REPLAY_CREDENTIALS_MISSING: {
    status: 400,
    message: 'The replay has no registered meter credentials for some households of the recording',
  },
  ERR_REPLAY_CLOCK_BEHIND: {
    status: 409,
    message: "The service's simulated clock is far behind the recording",
  },
  ERR_REPLAY_SERVICE_UNAVAILABLE: {
    status: 503,
    message: 'The careflow service to replay into cannot be reached',
  },
  ERR_ARCHIVE_WRITE_FAILED: {
    status: 503,
    message: 'The archive database did not take a batch of readings; they stay in the spool and are retried',
  },
  ERR_ARCHIVE_POINTS_REJECTED: {
    status: 422,
    message: 'The archive database refused points of a batch for good; the batch was not retried',
  },
  ERR_SCENARIO_INVALID: { status: 400, message: 'The scenario file does not match the scenario schema' },
  ERR_SIMULATION_TARGET: {
    status: 409,
    message: 'The careflow service cannot run this simulation (clock, registry or connection)',
  },
  ERR_INGEST_METER_OUT_OF_SCOPE: {
    status: 403,
    message: 'The meter is not registered in the area or meter list of this ingest key',
  },
  ERR_START_PORT_UNAVAILABLE: {
    status: 500,
    message: 'careflow cannot listen on a port it needs: another program holds it, or it is reserved',
  },
  ERR_INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * What kind of problem a field has, for clients that word it themselves in the reader's language (the
 * console): `limit` is the bound, the expected type, the allowed values or the other field it names.
 */
export type IssueKind =
  | 'required'
  | 'type'
  | 'min'
  | 'max'
  | 'above'
  | 'below'
  | 'min-length'
  | 'max-length'
  | 'one-of'
  | 'multiple-of'
  | 'bucket-boundary'
  | 'differ'
  | 'format'
  | 'unknown-field';

/** One problem with one field, as shown to people (`path` is dotted: `households.3.grid`). */
export interface FieldIssue {
  path: string;
  message: string;
  kind?: IssueKind;
  limit?: number | string;
}

export class CareflowError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly issues: FieldIssue[];

  constructor(code: ErrorCode, detail?: string, issues: FieldIssue[] = []) {
    super(detail ?? ERRORS[code].message);
    this.name = 'CareflowError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.issues = issues;
  }

  toJSON(): { code: ErrorCode; message: string; issues?: FieldIssue[] } {
    return this.issues.length > 0
      ? { code: this.code, message: this.message, issues: this.issues }
      : { code: this.code, message: this.message };
  }
}

export function isCareflowError(err: unknown): err is CareflowError {
  return err instanceof CareflowError;
}

/** The parts of a zod issue that say what kind of problem it is. */
interface ZodIssueLike {
  path: PropertyKey[];
  message: string;
  code?: string;
  origin?: string;
  minimum?: unknown;
  maximum?: unknown;
  inclusive?: boolean;
  expected?: string;
  values?: readonly unknown[];
  divisor?: unknown;
}

/** Turns zod issues into field issues with dotted paths, each with its kind where it has one. */
export function fieldIssues(issues: ReadonlyArray<ZodIssueLike>): FieldIssue[] {
  return issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
    ...issueKind(issue),
  }));
}

function issueKind(i: ZodIssueLike): Pick<FieldIssue, 'kind' | 'limit'> {
  const bound = (v: unknown) => (typeof v === 'number' || typeof v === 'bigint' ? Number(v) : undefined);
  const sized = i.origin === 'string' || i.origin === 'array' || i.origin === 'set';
  switch (i.code) {
    case 'invalid_type':
      return / received undefined$/.test(i.message)
        ? { kind: 'required' }
        : { kind: 'type', ...(i.expected ? { limit: i.expected } : {}) };
    case 'too_small': {
      const limit = bound(i.minimum);
      if (limit === undefined) return {};
      if (sized)
        return limit === 1 && i.origin === 'string' ? { kind: 'required' } : { kind: 'min-length', limit };
      return { kind: i.inclusive === false ? 'above' : 'min', limit };
    }
    case 'too_big': {
      const limit = bound(i.maximum);
      if (limit === undefined) return {};
      if (sized) return { kind: 'max-length', limit };
      return { kind: i.inclusive === false ? 'below' : 'max', limit };
    }
    case 'invalid_value':
      return i.values ? { kind: 'one-of', limit: i.values.map(String).join(', ') } : {};
    case 'not_multiple_of':
      return bound(i.divisor) === undefined ? {} : { kind: 'multiple-of', limit: bound(i.divisor)! };
    case 'invalid_format':
      return { kind: 'format' };
    case 'unrecognized_keys':
      return { kind: 'unknown-field' };
    default:
      return {};
  }
}

export function describeIssues(issues: FieldIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}
