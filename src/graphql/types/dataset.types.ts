import { Field, InputType, Int, ObjectType } from 'type-graphql';
import { LongScalar } from '../scalars';
import { ResponseCode } from './enums';

@ObjectType({ description: "A metric a dataset has received events for." })
export class Metric {
  @Field({ description: 'name::type' })
  id: string;

  @Field(() => LongScalar, { description: "timestamp (epoch ms) of the newest event of this metric", nullable: true })
  lastUpdate: number | null;
}

@ObjectType({ description: "A named collection of time-series events, shared with members by permission." })
export class Dataset {
  @Field({ description: "the dataset id, used in dataRange.datasets and in the ingest URL" })
  id: string;

  @Field({ description: "the dataset name" })
  name: string;

  @Field(() => String, { description: "what the dataset holds, if its creator said", nullable: true })
  description: string | null;

  // metrics: DatasetMetricsResolver, read only when asked (a dataset may have tens of thousands).
}

@ObjectType({ description: "One page of datasets; pass cursor back to get the next." })
export class DatasetPage {
  @Field(() => [Dataset], { description: "the datasets on this page" })
  items: Dataset[];

  @Field(() => String, { nullable: true, description: 'null on the last page' })
  cursor: string | null;

  @Field(() => Int, { description: "how many there are in all", nullable: true })
  count: number | null;
}

@InputType({ description: "A new dataset; the caller becomes its first MANAGE member." })
export class CreateDatasetInput {
  @Field({ description: "the name, at most 255 characters" })
  name: string;

  @Field(() => String, { description: "what the dataset holds", nullable: true })
  description?: string | null;
}

@ObjectType({ description: "The outcome of a dataset mutation." })
export class DatasetResponse {
  @Field(() => ResponseCode, { description: "SUCCESS, or why not" })
  responseCode: ResponseCode;

  @Field(() => String, { description: "what went wrong and what to do, when not SUCCESS", nullable: true })
  message: string | null;

  @Field(() => Dataset, { description: "the dataset as it is now, on SUCCESS", nullable: true })
  item: Dataset | null;
}

/** Carries the dataset id to the member mutations nested under onDataset. */
@ObjectType({ description: "Changes to one dataset (its members); needs MANAGE on it." })
export class DatasetMutation {
  datasetId: string;
}
