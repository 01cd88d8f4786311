import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from './columns';

export type OutboxKind = 'webhook' | 'email';
export type OutboxState = 'PENDING' | 'DELIVERED' | 'FAILED';

/**
 * A message to send outside (a webhook call, an e-mail), written in the same transaction as the export
 * state change it announces. Senders claim it like the export queue claims exports: a lease, and a
 * `claims` counter that guards every later write, so a sender that lost its lease changes nothing.
 */
@Entity('outbox_message')
@Index('idx_outbox_due', ['state', 'nextAttemptOn'])
@Index('idx_outbox_webhook', ['webhookId', 'createdOn'])
export class OutboxMessageEntity {
  /** Also the `webhook-id` header: the same on every attempt, so receivers can drop duplicates. */
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ type: 'varchar', length: 16 })
  kind: OutboxKind;

  @Column({ type: 'varchar', length: 16 })
  state: OutboxState;

  @Column({ name: 'export_id', type: 'varchar', length: 36 })
  exportId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ name: 'webhook_id', type: 'varchar', length: 36, nullable: true })
  webhookId: string | null;

  /** The WebhookEventType announced (EXPORT_COMPLETED, ...). */
  @Column({ type: 'varchar', length: 24 })
  event: string;

  /** Webhook: the exact body sent on every attempt. E-mail: what to send, as JSON. */
  @Column({ type: 'text' })
  payload: string;

  /** Sends tried so far (a claim that ends without trying, e.g. a crash, is not one). */
  @Column({ type: 'int', default: 0 })
  attempts: number;

  @Column({ type: 'int', default: 0 })
  claims: number;

  @Column({ name: 'next_attempt_on', type: 'bigint', transformer: bigintNumber })
  nextAttemptOn: number;

  @Column({ name: 'lease_owner', type: 'varchar', length: 64, nullable: true })
  leaseOwner: string | null;

  @Column({ name: 'lease_expires', type: 'bigint', nullable: true, transformer: bigintNumber })
  leaseExpires: number | null;

  @Column({ name: 'last_status', type: 'int', nullable: true })
  lastStatus: number | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  @Column({ name: 'delivered_on', type: 'bigint', nullable: true, transformer: bigintNumber })
  deliveredOn: number | null;

  @Column({ name: 'created_on', type: 'bigint', transformer: bigintNumber })
  createdOn: number;
}
