import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ExportEventType } from '../../exports/delivery/history';
import { WebhookEventType } from '../../exports/delivery/webhooks';
import { LongScalar } from '../scalars';
import { ResponseCode } from './enums';

registerEnumType(ExportEventType, {
  name: 'ExportEventType',
  description: 'what happened to an export',
  valuesConfig: {
    QUEUED: { description: 'asked for and put in the queue' },
    STARTED: { description: 'a worker began generating it (message: the attempt)' },
    RETRIED: { description: 'an attempt was interrupted by a fault and the export goes round again (message: why)' },
    COMPLETED: { description: 'its file is ready' },
    FAILED: { description: 'it ended without a file (message: why)' },
    CANCELLED: { description: 'cancelled or removed (message: by whom)' },
    DOWNLOADED: { description: 'its file, or part of it, was downloaded (message: which representation and bytes)' },
    EMAILED: { description: 'its e-mail was accepted by the mail server' },
    EMAIL_FAILED: { description: 'an attempt to send its e-mail failed (message: why, and when the next one is)' },
    WEBHOOK_DELIVERED: { description: 'a webhook endpoint answered 2xx (message: which, status, attempt)' },
    WEBHOOK_FAILED: { description: 'a webhook attempt failed (message: which, why, and when the next one is)' },
    EXPIRED: { description: 'the retention time ran out and the file was deleted' },
  },
});
registerEnumType(WebhookEventType, {
  name: 'WebhookEventType',
  description: 'export events a webhook can receive',
  valuesConfig: {
    EXPORT_COMPLETED: { description: 'body type "export.completed"' },
    EXPORT_FAILED: { description: 'body type "export.failed"' },
    EXPORT_CANCELLED: { description: 'body type "export.cancelled"' },
  },
});

@ObjectType({ description: 'one thing that happened to an export' })
export class ExportEvent {
  @Field(() => LongScalar, { description: 'when, epoch milliseconds' })
  at: number;

  @Field(() => ExportEventType, { description: 'what happened' })
  type: ExportEventType;

  @Field(() => String, { nullable: true, description: 'details in words, when there are any' })
  message: string | null;
}

@InputType({ description: 'what to tell the export\'s owner when it ends' })
export class NotifyInput {
  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'e-mail the owner when the export is COMPLETED (with the file attached when small enough) or FAILED' })
  email?: boolean;
}

@ObjectType({ description: 'one message to a webhook, with all its attempts' })
export class WebhookDelivery {
  @Field({ description: 'the webhook-id header, the same on every attempt' })
  id: string;

  @Field(() => WebhookEventType, { description: 'the event announced' })
  event: WebhookEventType;

  @Field({ description: 'the export it is about' })
  exportId: string;

  @Field(() => Int, { description: 'attempts made so far' })
  attempts: number;

  @Field(() => Int, { nullable: true, description: 'HTTP status of the last attempt (null: no answer)' })
  lastStatus: number | null;

  @Field(() => String, { nullable: true, description: 'why the last attempt failed' })
  lastError: string | null;

  @Field(() => LongScalar, { nullable: true, description: 'when an attempt got a 2xx; null until then' })
  deliveredOn: number | null;

  @Field(() => LongScalar, { nullable: true, description: 'when the next attempt is due; null once delivered or given up' })
  nextAttemptOn: number | null;
}

@ObjectType({ description: 'an endpoint that receives signed export events (Standard Webhooks)' })
export class Webhook {
  @Field({ description: 'the webhook id' })
  id: string;

  @Field({ description: 'where the events are POSTed' })
  url: string;

  @Field(() => [WebhookEventType], { description: 'the events it receives' })
  events: WebhookEventType[];

  @Field(() => LongScalar, { description: 'when it was made, epoch milliseconds' })
  createdOn: number;
}

@InputType({ description: 'a new webhook' })
export class CreateWebhookInput {
  @Field({ description: 'http:// or https:// URL on a public address' })
  url: string;

  @Field(() => [WebhookEventType], { nullable: true, description: 'the events to receive; all three when omitted' })
  events?: WebhookEventType[] | null;
}

@ObjectType({ description: 'the answer to a webhook mutation' })
export class WebhookResponse {
  @Field(() => ResponseCode, { description: 'SUCCESS, or what went wrong' })
  responseCode: ResponseCode;

  @Field(() => String, { nullable: true, description: 'what went wrong, in words; null on SUCCESS' })
  message: string | null;

  @Field(() => Webhook, { nullable: true, description: 'the webhook; null unless SUCCESS' })
  item: Webhook | null;

  @Field(() => String, { nullable: true, description: 'the signing secret (whsec_...), shown once: on create' })
  secret: string | null;
}

/** Carries the webhook id to the actions nested under onWebhook. */
@ObjectType({ description: 'actions on one of your webhooks' })
export class WebhookMutation {
  webhookId: string;
}
