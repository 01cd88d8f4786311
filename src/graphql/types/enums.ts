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

export enum SortOrder {
  ASC = 'ASC',
  DESC = 'DESC',
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
registerEnumType(ResponseCode, { name: 'ResponseCode' });
registerEnumType(SortOrder, {
  name: 'SortOrder',
  description: 'Timestamp order of an export\'s rows; events with the same timestamp keep a stable order, reversed by DESC',
  valuesConfig: { ASC: { description: 'oldest first (the default)' }, DESC: { description: 'newest first' } },
});

export { ExportStatus, Permission };
