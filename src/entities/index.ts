import { AccessTokenEntity } from './access-token.entity';
import { DataExportEntity } from './data-export.entity';
import { DatasetMemberEntity } from './dataset-member.entity';
import { DatasetMetricEntity } from './dataset-metric.entity';
import { DatasetEntity } from './dataset.entity';
import { EventEntity } from './event.entity';
import { ExportRemovalEntity } from './export-removal.entity';
import { UserEntity } from './user.entity';

export const ENTITIES = [UserEntity, AccessTokenEntity, DatasetEntity, DatasetMemberEntity, DatasetMetricEntity, EventEntity, DataExportEntity, ExportRemovalEntity];

export { AccessTokenEntity, DataExportEntity, DatasetEntity, DatasetMemberEntity, DatasetMetricEntity, EventEntity, ExportRemovalEntity, UserEntity };
