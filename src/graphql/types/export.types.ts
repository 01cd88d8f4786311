import { Field, InputType, Int, ObjectType } from 'type-graphql';
import { JSONScalar, LongScalar } from '../scalars';
import { Dataset } from './dataset.types';
import { EventField, ExportStatus, ResponseCode, TimestampFormat, TimestampPrecision } from './enums';

@ObjectType()
export class DataRange {
  @Field(() => [Dataset])
  datasets: Dataset[];

  @Field(() => [String], { nullable: 'itemsAndList' })
  metrics: string[] | null;
}

@ObjectType()
export class DataExportStatus {
  @Field(() => ExportStatus)
  status: ExportStatus;

  @Field(() => LongScalar)
  recordsEstimate: number;

  @Field(() => LongScalar)
  recordsProcessed: number;

  @Field(() => Int, { nullable: true, description: '1 = next to start; null unless QUEUING' })
  queuePosition: number | null;

  @Field(() => LongScalar, { nullable: true })
  startedOn: number | null;

  @Field(() => String, { nullable: true, description: 'why it FAILED, or why it was CANCELLED' })
  message: string | null;
}

@ObjectType()
export class DataExportResult {
  @Field(() => LongScalar, { nullable: true })
  completedOn: number | null;

  @Field(() => LongScalar, { nullable: true })
  expiresOn: number | null;

  @Field(() => LongScalar, { description: 'the CSV, uncompressed' })
  sizeInBytes: number;

  @Field(() => LongScalar, { nullable: true, description: 'the stored gzip file' })
  compressedSizeInBytes: number | null;

  @Field(() => String, { nullable: true, description: 'of the uncompressed CSV' })
  sha256: string | null;

  @Field({ description: 'true when a record limit cut it short' })
  truncated: boolean;
}

@ObjectType()
export class DataExport {
  @Field()
  id: string;

  @Field(() => String, { nullable: true })
  name: string | null;

  @Field(() => TimestampPrecision)
  timestampPrecision: TimestampPrecision;

  @Field(() => [EventField])
  fields: EventField[];

  @Field(() => JSONScalar, { nullable: true })
  filter: unknown;

  @Field(() => LongScalar, { nullable: true })
  from: number | null;

  @Field(() => LongScalar, { nullable: true })
  to: number | null;

  @Field(() => Int, { nullable: true })
  limit: number | null;

  @Field(() => LongScalar)
  requestedOn: number;

  @Field({
    description:
      'true only in the subscription message that announces the export was removed (it no longer exists); that message carries the state the export last had',
  })
  removed: boolean;

  /** Resolved fields (user, dataRange, status, result) read these. */
  userId: string;
  datasetIds: number[];
  metrics: string[] | null;
  statusValue: DataExportStatus;
  resultValue: DataExportResult | null;
}

@ObjectType()
export class DataExportPage {
  @Field(() => [DataExport])
  items: DataExport[];

  @Field(() => String, { nullable: true, description: 'null on the last page' })
  cursor: string | null;

  @Field(() => Int, { nullable: true })
  count: number | null;
}

@InputType()
export class DataRangeInput {
  @Field(() => [String], { nullable: true })
  datasets?: string[] | null;

  @Field(() => [String], { nullable: 'itemsAndList' })
  metrics?: (string | null)[] | null;
}

@InputType()
export class CreateExportInput {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => DataRangeInput)
  dataRange: DataRangeInput;

  @Field(() => TimestampPrecision, { nullable: true, defaultValue: TimestampPrecision.MILLISECONDS })
  timestampPrecision?: TimestampPrecision;

  @Field(() => [EventField], { nullable: true })
  fields?: EventField[] | null;

  @Field(() => JSONScalar, { nullable: true })
  filter?: unknown;

  @Field(() => LongScalar, { nullable: true, description: 'inclusive' })
  from?: number | null;

  @Field(() => LongScalar, { nullable: true, description: 'exclusive' })
  to?: number | null;

  @Field(() => Int, { nullable: true })
  limit?: number | null;

  @Field(() => Boolean, { nullable: true, defaultValue: true })
  header?: boolean;

  @Field(() => TimestampFormat, { nullable: true, defaultValue: TimestampFormat.EPOCH })
  timestampFormat?: TimestampFormat;

  @Field(() => String, { nullable: true, defaultValue: 'UTC', description: 'IANA zone, for ISO8601' })
  timeZone?: string;

  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'UTF-8 BOM, and cells starting = + - @ tab CR are neutralised' })
  excelSafe?: boolean;
}

@InputType()
export class ExportStatusFilter {
  @Field(() => [ExportStatus], { nullable: true })
  _in?: ExportStatus[] | null;
}

@InputType()
export class NameFilter {
  @Field(() => String, { nullable: true })
  _regex?: string | null;
}

@InputType()
export class RequestedOnFilter {
  @Field(() => LongScalar, { nullable: true })
  _gte?: number | null;

  @Field(() => LongScalar, { nullable: true })
  _lt?: number | null;
}

@InputType()
export class DataExportFilter {
  @Field(() => ExportStatusFilter, { nullable: true })
  status?: ExportStatusFilter | null;

  @Field(() => NameFilter, { nullable: true })
  name?: NameFilter | null;

  @Field(() => RequestedOnFilter, { nullable: true })
  requestedOn?: RequestedOnFilter | null;
}

@ObjectType()
export class ExportEstimate {
  @Field(() => LongScalar)
  records: number;

  @Field(() => LongScalar)
  bytes: number;
}

@ObjectType()
export class ExportResponse {
  @Field(() => ResponseCode)
  responseCode: ResponseCode;

  @Field(() => String, { nullable: true })
  message: string | null;

  @Field(() => DataExport, { nullable: true })
  item: DataExport | null;
}

@ObjectType()
export class DownloadLinkResponse {
  @Field(() => ResponseCode)
  responseCode: ResponseCode;

  @Field(() => String, { nullable: true })
  message: string | null;

  @Field(() => String, { nullable: true })
  link: string | null;

  @Field(() => LongScalar, { nullable: true })
  expiresOn: number | null;
}

/** Carries the export id to cancel/remove/createDownloadLink nested under onExport. */
@ObjectType()
export class ExportMutation {
  exportId: string;
}
