import { Field, ObjectType } from 'type-graphql';
import { JSONScalar } from '../scalars';

@ObjectType()
export class User {
  @Field()
  id: string;

  @Field()
  email: string;
}

@ObjectType()
export class UsageLimit {
  @Field(() => JSONScalar, { description: '{ maxDataExports, maxDataExportRecords }' })
  values: Record<string, number>;
}
