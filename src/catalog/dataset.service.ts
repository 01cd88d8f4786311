import { DataSource, EntityManager, In } from 'typeorm';
import { DatasetEntity, DatasetMemberEntity, DatasetMetricEntity } from '../entities';
import { PERMISSION_RANK, Permission } from '../entities/dataset-member.entity';
import { badRequest, ErrorCode, SluiceError } from '../errors';
import type { MetricUpdate } from './event-counts';

/** Metrics per upsert statement. */
const METRIC_BATCH = 300;

export function parseDatasetId(id: string): number | undefined {
  return /^\d{1,9}$/.test(id.trim()) ? Number(id.trim()) : undefined;
}

export class DatasetService {
  constructor(private readonly ds: DataSource) {}

  async create(name: string, ownerId: string, description: string | null = null): Promise<DatasetEntity> {
    if (!name.trim()) throw badRequest('a dataset needs a non-empty name');
    if (name.length > 255) throw badRequest('a dataset name has at most 255 characters');
    return this.ds.transaction(async (m) => {
      const dataset = await m.getRepository(DatasetEntity).save(Object.assign(new DatasetEntity(), { name: name.trim(), description, createdOn: Date.now() }));
      await m.getRepository(DatasetMemberEntity).insert({ datasetId: dataset.id, userId: ownerId, permission: Permission.MANAGE });
      return dataset;
    });
  }

  /**
   * A manager changes a member's permission (adding them if new), under the rules that keep every
   * dataset managed: MANAGE members are peers, so one manager cannot demote or remove another (the
   * dataset's creator included); a manager may step down only while another MANAGE member remains.
   */
  async changeMember(datasetId: number, actorId: string, memberId: string, permission: Permission | null): Promise<'granted' | 'removed' | 'absent'> {
    return this.ds.transaction(async (m) => {
      const repo = m.getRepository(DatasetMemberEntity);
      // On MySQL the manager rows are locked, so two managers stepping down at once cannot both succeed.
      const lock = m.connection.options.type === 'better-sqlite3' ? {} : { lock: { mode: 'pessimistic_write' as const } };
      const managers = await repo.find({ where: { datasetId, permission: Permission.MANAGE }, ...lock });
      const current = await repo.findOneBy({ datasetId, userId: memberId });
      if (current?.permission === Permission.MANAGE && permission !== Permission.MANAGE) {
        if (memberId !== actorId) {
          throw new SluiceError(ErrorCode.NOT_AUTHORIZED, `that member also has MANAGE on dataset ${datasetId}: a manager cannot demote or remove another manager; they can step down themselves`);
        }
        if (!managers.some((x) => x.userId !== actorId)) {
          throw badRequest(`you are the only member with MANAGE on dataset ${datasetId}: give MANAGE to someone else before you step down, so the dataset keeps a manager`);
        }
      }
      if (permission === null) {
        if (!current) return 'absent';
        await repo.delete({ datasetId, userId: memberId });
        return 'removed';
      }
      await repo.upsert({ datasetId, userId: memberId, permission }, ['datasetId', 'userId']);
      return 'granted';
    });
  }

  async grant(datasetId: number, userId: string, permission: Permission): Promise<void> {
    await this.ds.getRepository(DatasetMemberEntity).upsert({ datasetId, userId, permission }, ['datasetId', 'userId']);
  }

  async revoke(datasetId: number, userId: string): Promise<boolean> {
    const res = await this.ds.getRepository(DatasetMemberEntity).delete({ datasetId, userId });
    return (res.affected ?? 0) > 0;
  }

  async findById(id: number): Promise<DatasetEntity | null> {
    return this.ds.getRepository(DatasetEntity).findOneBy({ id });
  }

  async permissionOf(datasetId: number, userId: string): Promise<Permission | null> {
    const member = await this.ds.getRepository(DatasetMemberEntity).findOneBy({ datasetId, userId });
    return member?.permission ?? null;
  }

  /**
   * The dataset if the user holds at least `needed` on it. An unknown dataset and one the user may not
   * see give the same answer, so ids reveal nothing.
   */
  async requireAccess(rawId: string, userId: string, needed: Permission): Promise<DatasetEntity> {
    const id = parseDatasetId(rawId);
    const dataset = id === undefined ? null : await this.findById(id);
    const permission = dataset ? await this.permissionOf(dataset.id, userId) : null;
    if (!dataset || !permission) throw new SluiceError(ErrorCode.NOT_FOUND, `dataset ${rawId} not found or not readable`);
    if (PERMISSION_RANK[permission] < PERMISSION_RANK[needed]) {
      throw new SluiceError(ErrorCode.NOT_AUTHORIZED, `you have ${permission} on dataset ${rawId}; this needs ${needed}`);
    }
    return dataset;
  }

  async listForUser(userId: string, offset: number, limit: number): Promise<{ items: DatasetEntity[]; total: number }> {
    const members = await this.ds.getRepository(DatasetMemberEntity).find({ where: { userId }, order: { datasetId: 'ASC' } });
    const ids = members.map((m) => m.datasetId);
    const page = ids.slice(offset, offset + limit);
    const items = page.length ? await this.ds.getRepository(DatasetEntity).find({ where: { id: In(page) }, order: { id: 'ASC' } }) : [];
    return { items, total: ids.length };
  }

  async metrics(datasetId: number): Promise<DatasetMetricEntity[]> {
    return this.ds.getRepository(DatasetMetricEntity).find({ where: { datasetId }, order: { metric: 'ASC' } });
  }

  /**
   * The dataset's metrics as the API shows them, read as plain rows: making 50 000 entities of them held
   * the server's loop for 250 ms.
   */
  async metricList(datasetId: number): Promise<{ id: string; lastUpdate: number }[]> {
    const rows: { metric: string; last_update: number | string }[] = await this.ds.query('SELECT metric, last_update FROM dataset_metric WHERE dataset_id = ? ORDER BY metric', [datasetId]);
    return rows.map((r) => ({ id: r.metric, lastUpdate: Number(r.last_update) }));
  }

  /** Records that these metrics received events, keeping the newest timestamp (ms); safe under concurrent ingests. */
  async touchMetrics(datasetId: number, lastUpdates: Map<string, number>): Promise<void> {
    await DatasetService.touchMetricsWith(this.ds.manager, datasetId, lastUpdates);
  }

  /**
   * touchMetrics inside a caller's transaction: batched upserts (one per metric stalled SQLite for
   * seconds), in metric order so concurrent ingests lock rows in one order. `lastUpdates` is a map, or
   * entries sorted by metric already (an ingest's totals, sorted in the ingest thread).
   */
  static async touchMetricsWith(m: EntityManager, datasetId: number, lastUpdates: Map<string, number> | readonly MetricUpdate[], between?: () => Promise<unknown>): Promise<void> {
    const mysql = m.connection.options.type !== 'better-sqlite3';
    const upsert = mysql
      ? 'ON DUPLICATE KEY UPDATE last_update = GREATEST(last_update, VALUES(last_update))'
      : 'ON CONFLICT (dataset_id, metric) DO UPDATE SET last_update = MAX(last_update, excluded.last_update)';
    const entries = lastUpdates instanceof Map ? [...lastUpdates.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)) : lastUpdates;
    const full = `INSERT INTO dataset_metric (dataset_id, metric, last_update) VALUES ${Array(METRIC_BATCH).fill('(?, ?, ?)').join(', ')} ${upsert}`;
    for (let i = 0; i < entries.length; i += METRIC_BATCH) {
      const batch = entries.slice(i, i + METRIC_BATCH);
      const params: (string | number)[] = [];
      for (const [metric, lastUpdate] of batch) params.push(datasetId, metric, lastUpdate);
      const sql = batch.length === METRIC_BATCH ? full : `INSERT INTO dataset_metric (dataset_id, metric, last_update) VALUES ${batch.map(() => '(?, ?, ?)').join(', ')} ${upsert}`;
      await m.query(sql, params);
      await between?.();
    }
  }
}
