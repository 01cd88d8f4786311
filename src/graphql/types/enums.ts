import { registerEnumType } from 'type-graphql';
import { ExportStatus } from '../../entities/data-export.entity';
import { Permission } from '../../entities/dataset-member.entity';

export enum EventField {
  timestamp = 'timestamp',
  dataset = 'dataset',
  metric = 'metric',
  producer = 'producer',
  source = 'source',
  value = 'value',
  tags = 'tags',
  location = 'location',
  geohash = 'geohash',
  elevation = 'elevation',
  tsReceived = 'tsReceived',
}

export enum TimestampPrecision {
  SECONDS = 'SECONDS',
  MILLISECONDS = 'MILLISECONDS',
  MICROSECONDS = 'MICROSECONDS',
}

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

registerEnumType(ExportStatus, { name: 'ExportStatus' });
registerEnumType(Permission, { name: 'Permission' });
registerEnumType(EventField, { name: 'EventField' });
registerEnumType(TimestampPrecision, { name: 'TimestampPrecision' });
registerEnumType(TimestampFormat, { name: 'TimestampFormat' });
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
registerEnumType(ResponseCode, { name: 'ResponseCode' });

export { ExportStatus, Permission };
