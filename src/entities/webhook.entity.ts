import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from './columns';

/** A user's endpoint for export events; `secret` is the whsec_ string, shown to the user once. */
@Entity('webhook')
@Index('idx_webhook_user', ['userId', 'createdOn'])
export class WebhookEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ type: 'varchar', length: 2048 })
  url: string;

  /** Comma-separated WebhookEventType names. */
  @Column({ type: 'varchar', length: 255 })
  events: string;

  @Column({ type: 'varchar', length: 128 })
  secret: string;

  @Column({ name: 'created_on', type: 'bigint', transformer: bigintNumber })
  createdOn: number;
}
