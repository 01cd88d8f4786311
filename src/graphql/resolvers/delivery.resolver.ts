import { Arg, Ctx, FieldResolver, Int, Mutation, Resolver, Root } from 'type-graphql';
import { WebhookEntity } from '../../entities/webhook.entity';
import { WebhookEventType } from '../../exports/delivery/webhooks';
import { Context } from '../context';
import { envelope } from '../envelope';
import { CreateWebhookInput, ExportEvent, Webhook, WebhookDelivery, WebhookMutation, WebhookResponse } from '../types/delivery.types';
import { DataExport } from '../types/export.types';
import { User } from '../types/user.types';

function toWebhook(w: WebhookEntity): Webhook {
  return { id: w.id, url: w.url, events: w.events.split(',') as WebhookEventType[], createdOn: w.createdOn };
}

@Resolver(() => DataExport)
export class ExportHistoryResolver {
  @FieldResolver(() => [ExportEvent], { description: 'what happened to it, oldest first: every entry but downloads, and the newest 1 000 downloads' })
  events(@Root() root: DataExport, @Ctx() ctx: Context): Promise<ExportEvent[]> {
    return ctx.services.delivery.history.list(root.id);
  }
}

@Resolver(() => User)
export class UserWebhooksResolver {
  @FieldResolver(() => [Webhook], { description: 'your webhooks, oldest first' })
  async webhooks(@Ctx() ctx: Context): Promise<Webhook[]> {
    return (await ctx.services.delivery.webhooks.list(ctx.user.id)).map(toWebhook);
  }
}

@Resolver(() => Webhook)
export class WebhookResolver {
  @Mutation(() => WebhookResponse, { description: 'a webhook for your exports\' events; the answer carries its signing secret, shown only this once' })
  createWebhook(@Ctx() ctx: Context, @Arg('input', () => CreateWebhookInput, { description: 'its URL and events' }) input: CreateWebhookInput): Promise<WebhookResponse> {
    return envelope(async () => {
      const { webhook, secret } = await ctx.services.delivery.webhooks.create(ctx.user, input);
      return { item: toWebhook(webhook), secret };
    }, { item: null, secret: null });
  }

  @Mutation(() => WebhookMutation, { description: 'actions on one of your webhooks' })
  onWebhook(@Arg('id', () => String, { description: 'the webhook id' }) id: string): WebhookMutation {
    return { webhookId: id };
  }

  @FieldResolver(() => [WebhookDelivery], { description: 'its latest messages, newest first, each with its attempts' })
  async deliveries(@Root() root: Webhook, @Ctx() ctx: Context, @Arg('limit', () => Int, { defaultValue: 20, description: 'at most 100' }) limit: number): Promise<WebhookDelivery[]> {
    return (await ctx.services.delivery.webhooks.deliveries(root.id, limit)) as WebhookDelivery[];
  }
}

@Resolver(() => WebhookMutation)
export class WebhookMutationResolver {
  @FieldResolver(() => WebhookResponse, { description: 'deletes the webhook; messages not yet delivered are given up' })
  remove(@Root() root: WebhookMutation, @Ctx() ctx: Context): Promise<WebhookResponse> {
    return envelope(async () => ({ item: toWebhook(await ctx.services.delivery.webhooks.remove(ctx.user, root.webhookId)), secret: null, message: `webhook ${root.webhookId} removed` }), { item: null, secret: null });
  }
}
