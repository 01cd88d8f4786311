import 'reflect-metadata';
import { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { AdminResolver } from './resolvers/admin.resolver';
import { DatasetMetricsResolver, DatasetMutationResolver, DatasetResolver } from './resolvers/dataset.resolver';
import { ExportHistoryResolver, UserWebhooksResolver, WebhookMutationResolver, WebhookResolver } from './resolvers/delivery.resolver';
import { ExportMutationResolver, ExportResolver } from './resolvers/export.resolver';
import {
  ExportRerunResolver, ExportScheduleLinkResolver, ScheduleMutationResolver, ScheduleResolver, UserSchedulesResolver,
} from './resolvers/schedule.resolver';
import { SubscriptionResolver } from './resolvers/subscription.resolver';
import { UserResolver } from './resolvers/user.resolver';

export const RESOLVERS = [UserResolver, DatasetResolver, DatasetMetricsResolver, DatasetMutationResolver, ExportResolver, ExportMutationResolver, SubscriptionResolver,
  ExportHistoryResolver, UserWebhooksResolver, WebhookResolver, WebhookMutationResolver, AdminResolver,
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

/** The root types, described like every other type (type-graphql has no decorator for them). */
const ROOT_DESCRIPTIONS = {
  Query: 'Reads. Every operation needs Authorization: Bearer <token>.',
  Mutation: 'Changes. Expected failures come back in the response envelope (responseCode and message), not as errors.',
  Subscription: 'Live changes over the graphql-ws protocol, on the same paths as /graphql; connection_init carries {"Authorization": "Bearer <token>"}.',
};

export async function buildSluiceSchema(): Promise<GraphQLSchema> {
  const schema = await buildSchema({ resolvers: RESOLVERS, validate: false, pubSub: noTopicPubSub });
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    if (root) root.description = ROOT_DESCRIPTIONS[root.name as keyof typeof ROOT_DESCRIPTIONS];
  }
  return schema;
}
