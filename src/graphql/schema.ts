import 'reflect-metadata';
import { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { DatasetMutationResolver, DatasetResolver } from './resolvers/dataset.resolver';
import { ExportMutationResolver, ExportResolver } from './resolvers/export.resolver';
import { UserResolver } from './resolvers/user.resolver';

export const RESOLVERS = [UserResolver, DatasetResolver, DatasetMutationResolver, ExportResolver, ExportMutationResolver] as const;

export function buildSluiceSchema(): Promise<GraphQLSchema> {
  return buildSchema({ resolvers: RESOLVERS, validate: false });
}
