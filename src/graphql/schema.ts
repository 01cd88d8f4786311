import 'reflect-metadata';
import { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { DatasetMutationResolver, DatasetResolver } from './resolvers/dataset.resolver';
import { ExportMutationResolver, ExportResolver } from './resolvers/export.resolver';
import {
  ExportRerunResolver, ExportScheduleLinkResolver, ScheduleMutationResolver, ScheduleResolver, UserSchedulesResolver,
} from './resolvers/schedule.resolver';
import { SubscriptionResolver } from './resolvers/subscription.resolver';
import { UserResolver } from './resolvers/user.resolver';

export const RESOLVERS = [UserResolver, DatasetResolver, DatasetMutationResolver, ExportResolver, ExportMutationResolver, SubscriptionResolver,
  ScheduleResolver, ScheduleMutationResolver, UserSchedulesResolver, ExportScheduleLinkResolver, ExportRerunResolver] as const;

/**
 * Every subscription here brings its own `subscribe` (fed by ExportEvents), so type-graphql's topic
 * pub/sub is never used; it insists on having one, and this one refuses use loudly.
 */
const noTopicPubSub = {
  publish(): void {
    throw new Error('topic pub/sub is not used: subscriptions read ExportEvents');
  },
  subscribe(): AsyncIterable<unknown> {
    throw new Error('topic pub/sub is not used: subscriptions read ExportEvents');
  },
};

export function buildSluiceSchema(): Promise<GraphQLSchema> {
  return buildSchema({ resolvers: RESOLVERS, validate: false, pubSub: noTopicPubSub });
}
