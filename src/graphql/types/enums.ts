import { registerEnumType } from 'type-graphql';
import { ExportStatus } from '../../entities/data-export.entity';
import { Permission } from '../../entities/dataset-member.entity';
import { EVENT_FIELD_DESCRIPTIONS, EVENT_FIELDS, EventFieldName, Precision, PRECISION_DESCRIPTIONS, PRECISIONS } from '../../events/event-schema';

/** The event fields, from the one event schema: a new field there is a new enum value here. */
export const EventField = Object.fromEntries(EVENT_FIELDS.map((f) => [f, f])) as { [K in EventFieldName]: K };
export type EventField = EventFieldName;

export const TimestampPrecision = Object.fromEntries(PRECISIONS.map((p) => [p, p])) as { [K in Precision]: K };
export type TimestampPrecision = Precision;

export enum TimestampFormat {
  EPOCH = 'EPOCH',
  ISO8601 = 'ISO8601',
}

export enum ExportFormat {
  CSV = 'CSV',
  JSONL = 'JSONL',
  PARQUET = 'PARQUET',
  XLSX = 'XLSX',
}

export enum ExportPackaging {
  NONE = 'NONE',
  ZIP = 'ZIP',
}

export enum ResponseCode {
  SUCCESS = 'SUCCESS',
  BAD_REQUEST = 'BAD_REQUEST',
  NOT_FOUND = 'NOT_FOUND',
  NOT_AUTHORIZED = 'NOT_AUTHORIZED',
  LIMIT_REACHED = 'LIMIT_REACHED',
  SERVER_ERROR = 'SERVER_ERROR',
}

const described = <K extends string>(descriptions: Record<K, string>) =>
  Object.fromEntries(Object.entries(descriptions).map(([k, d]) => [k, { description: d as string }])) as Record<K, { description: string }>;

registerEnumType(ExportStatus, {
  name: 'ExportStatus',
  description: 'Where an export is in its life: QUEUING, then GENERATING, then COMPLETED, FAILED or CANCELLED.',
  valuesConfig: described({
    QUEUING: 'waiting for a free worker slot (see queuePosition)',
    GENERATING: 'a worker is writing the file (see recordsProcessed)',
    CANCELLED: 'stopped by cancel or remove; no file',
    COMPLETED: 'the file is ready to download until result.expiresOn',
    FAILED: 'it could not be made; status.message says why',
  }),
});
registerEnumType(Permission, {
  name: 'Permission',
  description: 'What a member may do with a dataset; each includes the weaker ones.',
  valuesConfig: described({
    READ: 'see the dataset and export its events',
    WRITE: 'READ, and ingest events',
    MANAGE: 'WRITE, and add or remove members',
  }),
});
registerEnumType(EventField, {
  name: 'EventField',
  description: 'A column an export can have (one per field, in the order asked for).',
  valuesConfig: described(EVENT_FIELD_DESCRIPTIONS),
});
registerEnumType(TimestampPrecision, {
  name: 'TimestampPrecision',
  description: 'The unit of exported timestamps (and of ISO 8601 fraction digits: none, 3 or 6).',
  valuesConfig: described(PRECISION_DESCRIPTIONS),
});
registerEnumType(TimestampFormat, {
  name: 'TimestampFormat',
  description: 'How exported timestamps are written.',
  valuesConfig: described({
    EPOCH: 'an integer count since 1970-01-01 UTC, in the timestampPrecision',
    ISO8601: 'an ISO 8601 date and time in the export\'s timeZone, with its offset',
  }),
});
registerEnumType(ExportFormat, {
  name: 'ExportFormat',
  description: 'The data file\'s format',
  valuesConfig: {
    CSV: { description: 'RFC 4180 text (text/csv), stored gzip' },
    JSONL: { description: 'JSON Lines: one JSON object per record, keys = the fields, typed values (application/x-ndjson), stored gzip' },
    PARQUET: { description: 'Apache Parquet with typed columns named as the fields, compressed column chunks' },
    XLSX: { description: 'Excel workbook: sheet "events" (then "events (2)"... past 1 048 575 rows), typed cells' },
  },
});
registerEnumType(ExportPackaging, {
  name: 'ExportPackaging',
  description: 'How the data file is delivered',
  valuesConfig: {
    NONE: { description: 'the data file itself' },
    ZIP: { description: 'a ZIP holding events.<ext> and manifest.json (id, name, format, times, records, sha256, request)' },
  },
});
registerEnumType(ResponseCode, {
  name: 'ResponseCode',
  description: 'The outcome of a mutation; anything but SUCCESS comes with a message saying what to do.',
  valuesConfig: described({
    SUCCESS: 'it was done',
    BAD_REQUEST: 'the request is wrong in a way the message names',
    NOT_FOUND: 'no such export or dataset, or not yours to see',
    NOT_AUTHORIZED: 'you may see it, but lack the permission this needs',
    LIMIT_REACHED: 'a usage limit stops it (the message names the limit)',
    SERVER_ERROR: 'the server failed; try again later',
  }),
});

export { ExportStatus, Permission };
