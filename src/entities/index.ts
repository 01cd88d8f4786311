import { AccessTokenEntity } from './access-token.entity';
import { DataExportEntity } from './data-export.entity';
import { DatasetMemberEntity } from './dataset-member.entity';
import { DatasetMetricEntity } from './dataset-metric.entity';
import { DatasetEntity } from './dataset.entity';
import { EventEntity } from './event.entity';
import { ExportEventEntity } from './export-event.entity';
import { OutboxMessageEntity } from './outbox-message.entity';
import { ExportRemovalEntity } from './export-removal.entity';
import { ExportScheduleEntity, ScheduleTickEntity } from './export-schedule.entity';
import { UserEntity } from './user.entity';
import { WebhookEntity } from './webhook.entity';

export const ENTITIES = [
  UserEntity, AccessTokenEntity, DatasetEntity, DatasetMemberEntity, DatasetMetricEntity, EventEntity, DataExportEntity, ExportRemovalEntity,
  ExportEventEntity, WebhookEntity, OutboxMessageEntity, ExportScheduleEntity, ScheduleTickEntity,
];

export {
  AccessTokenEntity, DataExportEntity, DatasetEntity, DatasetMemberEntity, DatasetMetricEntity, EventEntity, ExportEventEntity, ExportRemovalEntity,
  ExportScheduleEntity, OutboxMessageEntity, ScheduleTickEntity, UserEntity, WebhookEntity,
};
