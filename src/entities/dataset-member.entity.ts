import { Column, Entity, PrimaryColumn } from 'typeorm';

export enum Permission {
  READ = 'READ',
  WRITE = 'WRITE',
  MANAGE = 'MANAGE',
}

/** Each permission includes the weaker ones: MANAGE can write, WRITE can read. */
export const PERMISSION_RANK: Record<Permission, number> = { READ: 1, WRITE: 2, MANAGE: 3 };

@Entity('dataset_member')
export class DatasetMemberEntity {
  @PrimaryColumn({ name: 'dataset_id', type: 'int' })
  datasetId: number;

  @PrimaryColumn({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ type: 'varchar', length: 16 })
  permission: Permission;
}
