import { Field, ObjectType } from 'type-graphql';
import { JSONScalar } from '../scalars';

@ObjectType({ description: "A user of the server: the caller, seen through me." })
export class User {
  @Field({ description: "the user id" })
  id: string;

  @Field({ description: "the e-mail address the user was created with" })
  email: string;
}

@ObjectType({ description: "The caller's usage limits." })
export class UsageLimit {
  @Field(() => JSONScalar, { description: '{ maxDataExports, maxDataExportRecords }' })
  values: Record<string, number>;
}
