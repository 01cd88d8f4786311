import { Field, InputType, Int, ObjectType } from 'type-graphql';
import { LongScalar } from '../scalars';
import { ResponseCode } from './enums';

@ObjectType()
export class Metric {
  @Field({ description: 'name::type' })
  id: string;

  @Field(() => LongScalar, { nullable: true })
  lastUpdate: number | null;
}

@ObjectType()
export class Dataset {
  @Field()
  id: string;

  @Field()
  name: string;

  @Field(() => String, { nullable: true })
  description: string | null;

  @Field(() => [Metric])
  metrics: Metric[];
}

@ObjectType()
export class DatasetPage {
  @Field(() => [Dataset])
  items: Dataset[];

  @Field(() => String, { nullable: true, description: 'null on the last page' })
  cursor: string | null;

  @Field(() => Int, { nullable: true })
  count: number | null;
}

@InputType()
export class CreateDatasetInput {
  @Field()
  name: string;

  @Field(() => String, { nullable: true })
  description?: string | null;
}

@ObjectType()
export class DatasetResponse {
  @Field(() => ResponseCode)
  responseCode: ResponseCode;

  @Field(() => String, { nullable: true })
  message: string | null;

  @Field(() => Dataset, { nullable: true })
  item: Dataset | null;
}

/** Carries the dataset id to the member mutations nested under onDataset. */
@ObjectType()
export class DatasetMutation {
  datasetId: string;
}
