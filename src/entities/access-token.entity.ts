import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from './columns';

/** Only the SHA-256 of a token is kept: a leaked table gives no usable credentials. */
@Entity('access_token')
export class AccessTokenEntity {
  @PrimaryColumn({ name: 'token_hash', type: 'varchar', length: 64 })
  tokenHash: string;

  @Index()
  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ name: 'created_on', type: 'bigint', transformer: bigintNumber })
  createdOn: number;
}
