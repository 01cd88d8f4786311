import { Field, InputType, Int, ObjectType } from 'type-graphql';
import { JSONScalar, LongScalar } from '../scalars';
import { Dataset } from './dataset.types';
import { EventField, ExportFormat, ExportPackaging, ExportStatus, ResponseCode, TimestampFormat, TimestampPrecision } from './enums';

@ObjectType({ description: "What an export covers: datasets, and optionally only some metrics." })
export class DataRange {
  @Field(() => [Dataset], { description: "the datasets exported" })
  datasets: Dataset[];

  @Field(() => [String], { description: "only these metrics (name::type, or *::type for every metric of a type); null for all", nullable: 'itemsAndList' })
  metrics: string[] | null;
}

@ObjectType({ description: "Where an export stands." })
export class DataExportStatus {
  @Field(() => ExportStatus, { description: "the state" })
  status: ExportStatus;

  @Field(() => LongScalar, { description: "how many records it should hold; filled in before generation starts" })
  recordsEstimate: number;

  @Field(() => LongScalar, { description: "records written so far; moves at least once a second while GENERATING" })
  recordsProcessed: number;

  @Field(() => Int, { nullable: true, description: '1 = next to start; null unless QUEUING' })
  queuePosition: number | null;

  @Field(() => LongScalar, { description: "when generation started (epoch ms)", nullable: true })
  startedOn: number | null;

  @Field(() => String, { nullable: true, description: 'why it FAILED, or why it was CANCELLED' })
  message: string | null;
}

@ObjectType({ description: "The finished file of a COMPLETED export." })
export class DataExportResult {
  @Field(() => LongScalar, { description: "when the file was finished (epoch ms)", nullable: true })
  completedOn: number | null;

  @Field(() => LongScalar, { description: "when the file is deleted (epoch ms); downloads then answer 410", nullable: true })
  expiresOn: number | null;

  @Field(() => LongScalar, { description: 'the data file as a user holds it (the CSV/JSONL text, the Parquet/XLSX file; inside a ZIP, the events.<ext> entry)' })
  sizeInBytes: number;

  @Field(() => LongScalar, { nullable: true, description: 'the stored file (gzip for CSV/JSONL, the file itself for Parquet/XLSX, the ZIP when packed)' })
  compressedSizeInBytes: number | null;

  @Field(() => String, { nullable: true, description: 'of the data file as a user holds it (inside a ZIP, of the events.<ext> entry)' })
  sha256: string | null;

  @Field({ description: 'true when a record limit cut it short' })
  truncated: boolean;
}

@ObjectType({ description: "An export of events to a file, asked for by the caller. It holds the events received up to requestedOn." })
export class DataExport {
  @Field({ description: "the export id, also in its download URL /api/v3/data/exports/{id}" })
  id: string;

  @Field(() => String, { description: "the name given when asked for; the download file is named after it", nullable: true })
  name: string | null;

  @Field(() => TimestampPrecision, { description: "the unit of its timestamps" })
  timestampPrecision: TimestampPrecision;

  @Field(() => [EventField], { description: "its columns, in order" })
  fields: EventField[];

  @Field(() => JSONScalar, { description: "the filter expression it applies, as given", nullable: true })
  filter: unknown;

  @Field(() => LongScalar, { description: "first timestamp included (epoch ms, inclusive)", nullable: true })
  from: number | null;

  @Field(() => LongScalar, { description: "end of the time range (epoch ms, exclusive)", nullable: true })
  to: number | null;

  @Field(() => Int, { description: "most records it holds, as asked", nullable: true })
  limit: number | null;

  @Field(() => LongScalar, { description: "when it was asked for (epoch ms): it holds the events received up to then" })
  requestedOn: number;

  @Field({
    description:
      'true only in the subscription message that announces the export was removed (it no longer exists); that message carries the state the export last had',
  })
  removed: boolean;

  @Field(() => ExportFormat, { description: 'the data file\'s format' })
  format: ExportFormat;

  @Field(() => ExportPackaging, { description: 'NONE: the data file itself; ZIP: packed with a manifest' })
  packaging: ExportPackaging;

  /** Resolved fields (user, dataRange, status, result) read these. */
  userId: string;
  datasetIds: number[];
  metrics: string[] | null;
  statusValue: DataExportStatus;
  resultValue: DataExportResult | null;
}

@ObjectType({ description: "One page of exports, newest first; pass cursor back to get the next." })
export class DataExportPage {
  @Field(() => [DataExport], { description: "the exports on this page" })
  items: DataExport[];

  @Field(() => String, { nullable: true, description: 'null on the last page' })
  cursor: string | null;

  @Field(() => Int, { description: "how many match in all", nullable: true })
  count: number | null;
}

@InputType({ description: "What an export covers: datasets, and optionally only some metrics." })
export class DataRangeInput {
  @Field(() => [String], { description: "dataset ids (one string is read as a list of one); READ is needed on each", nullable: true })
  datasets?: string[] | null;

  @Field(() => [String], { description: "only these metrics: name::type, or *::type for every metric of a type (types: number, number[], bool, string, json; boolean is another name for bool); null or empty for all", nullable: 'itemsAndList' })
  metrics?: (string | null)[] | null;
}

@InputType({ description: "What to export and how to write it." })
export class CreateExportInput {
  @Field(() => String, { description: "a name for the export and its download file, at most 255 characters", nullable: true })
  name?: string | null;

  @Field(() => DataRangeInput, { description: "the datasets and metrics to export" })
  dataRange: DataRangeInput;

  @Field(() => TimestampPrecision, { description: "the unit of exported timestamps", nullable: true, defaultValue: TimestampPrecision.MILLISECONDS })
  timestampPrecision?: TimestampPrecision;

  @Field(() => [EventField], { description: "the columns, in order", nullable: true })
  fields?: EventField[] | null;

  @Field(() => JSONScalar, { description: "only events that match this filter expression, e.g. {\"source\": {\"_eq\": \"sensor-1\"}} (see the README for fields and operators)", nullable: true })
  filter?: unknown;

  @Field(() => LongScalar, { nullable: true, description: 'first timestamp included (epoch ms, inclusive)' })
  from?: number | null;

  @Field(() => LongScalar, { nullable: true, description: 'end of the time range (epoch ms, exclusive)' })
  to?: number | null;

  @Field(() => Int, { description: "at most this many records (the first ones in timestamp order)", nullable: true })
  limit?: number | null;

  @Field(() => Boolean, { description: "start with a row of field names", nullable: true, defaultValue: true })
  header?: boolean;

  @Field(() => TimestampFormat, { description: "timestamps as epoch numbers or ISO 8601 text", nullable: true, defaultValue: TimestampFormat.EPOCH })
  timestampFormat?: TimestampFormat;

  @Field(() => String, { nullable: true, defaultValue: 'UTC', description: 'IANA zone, for ISO8601' })
  timeZone?: string;

  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'UTF-8 BOM, and cells starting = + - @ tab CR are neutralised (CSV only)' })
  excelSafe?: boolean;

  @Field(() => ExportFormat, { nullable: true, defaultValue: ExportFormat.CSV, description: 'the data file\'s format' })
  format?: ExportFormat;

  @Field(() => ExportPackaging, { nullable: true, defaultValue: ExportPackaging.NONE, description: 'ZIP: events.<ext> and manifest.json in one .zip' })
  packaging?: ExportPackaging;
}

@InputType({ description: "Exports in any of these states." })
export class ExportStatusFilter {
  @Field(() => [ExportStatus], { description: "any of these states", nullable: true })
  _in?: ExportStatus[] | null;
}

@InputType({ description: "Exports whose name matches." })
export class NameFilter {
  @Field(() => String, { description: "a JavaScript regular expression the name must match", nullable: true })
  _regex?: string | null;
}

@InputType({ description: "Exports asked for within a time range (epoch milliseconds)." })
export class RequestedOnFilter {
  @Field(() => LongScalar, { description: "asked for at or after (epoch ms)", nullable: true })
  _gte?: number | null;

  @Field(() => LongScalar, { description: "asked for before (epoch ms)", nullable: true })
  _lt?: number | null;
}

@InputType({ description: "Which of the caller's exports to list; all conditions must hold." })
export class DataExportFilter {
  @Field(() => ExportStatusFilter, { description: "by state", nullable: true })
  status?: ExportStatusFilter | null;

  @Field(() => NameFilter, { description: "by name", nullable: true })
  name?: NameFilter | null;

  @Field(() => RequestedOnFilter, { description: "by when it was asked for", nullable: true })
  requestedOn?: RequestedOnFilter | null;
}

@ObjectType({ description: "What an export would hold, counted without making it." })
export class ExportEstimate {
  @Field(() => LongScalar, { description: "records it would hold (exact, or estimated from a sample for a costly filter)" })
  records: number;

  @Field(() => LongScalar, { description: "a rough size of the uncompressed CSV" })
  bytes: number;
}

@ObjectType({ description: "The outcome of an export mutation." })
export class ExportResponse {
  @Field(() => ResponseCode, { description: "SUCCESS, or why not" })
  responseCode: ResponseCode;

  @Field(() => String, { description: "what went wrong and what to do, or a note on success", nullable: true })
  message: string | null;

  @Field(() => DataExport, { description: "the export as it is now", nullable: true })
  item: DataExport | null;
}

@ObjectType({ description: "A download link, or why there is none." })
export class DownloadLinkResponse {
  @Field(() => ResponseCode, { description: "SUCCESS, or why not" })
  responseCode: ResponseCode;

  @Field(() => String, { description: "what went wrong and what to do, when not SUCCESS", nullable: true })
  message: string | null;

  @Field(() => String, { description: "a relative URL that downloads the file without headers: /api/v3/data/exports/{id}?token=…", nullable: true })
  link: string | null;

  @Field(() => LongScalar, { description: "when the link stops working (epoch ms)", nullable: true })
  expiresOn: number | null;
}

/** Carries the export id to cancel/remove/createDownloadLink nested under onExport. */
@ObjectType({ description: "Actions on one of the caller's exports." })
export class ExportMutation {
  exportId: string;
}
