import crypto from 'node:crypto';
import { DataSource, EntityManager, In, LessThan } from 'typeorm';
import { DatasetService } from '../catalog/dataset.service';
import { Config } from '../config';
import { dialectOf } from '../db/data-source';
import { inTransaction } from '../db/transaction';
import { DataExportEntity, ExportStatus, TERMINAL_STATUSES } from '../entities/data-export.entity';
import { Permission } from '../entities/dataset-member.entity';
import { ExportRemovalEntity } from '../entities/export-removal.entity';
import { UserEntity } from '../entities/user.entity';
import { AccessTokenEntity } from '../entities';
import { hashToken } from '../catalog/tokens';
import { badRequest, ErrorCode, notFound, SluiceError } from '../errors';
import { logger } from '../logger';
import { LifecycleHooks, NO_HOOKS } from './delivery/delivery';
import { checkNotify, NotifyRequest } from './delivery/email';
import { countFinishedExport, formatOf } from '../observability/metrics';
import { REMOVAL_KEPT_MS } from './changes';
import { isValidTimeZone } from './formats/csv';
import { ExportEvents } from './export-events';
import { estimateBytes, ExportEstimator } from './estimate';
import { recordCap } from './export-query';
import { compileFilter, FilterError } from './filter';
import { takeTurn } from '../turns';
import { FormatName, PackagingName } from './formats/format';
import { canonicalSelector, METRIC_TYPES_TEXT } from '../events/event-schema';
import { boundedRegex, RegexError } from './regex';
import { DEFAULT_FIELDS, EventFieldName, ExportParams, Precision, SortOrder, TimestampFormatName } from './params';
import { Mutex } from '../mutex';
import { ExportStore, exportStoreOf } from './storage';

/** The request as the API hands it over (GraphQL input, already type-checked by the schema). */
export interface ExportRequest {
  name?: string | null;
  dataRange: { datasets?: string[] | null; metrics?: (string | null)[] | null };
  timestampPrecision?: Precision | null;
  fields?: EventFieldName[] | null;
  filter?: unknown;
  from?: number | null;
  to?: number | null;
  limit?: number | null;
  header?: boolean | null;
  timestampFormat?: TimestampFormatName | null;
  timeZone?: string | null;
  excelSafe?: boolean | null;
  format?: FormatName | null;
  packaging?: PackagingName | null;
  notify?: NotifyRequest | null;
  latest?: boolean | null;
  order?: SortOrder | null;
}

export interface UsageLimits {
  maxDataExports: number;
  maxDataExportRecords: number;
}

/** Each dataset and metric is a bound SQL parameter of every export query: kept well inside SQLite's 32 766. */
const MAX_RANGE_DATASETS = 100;
const MAX_RANGE_METRICS = 1000;
const ACTIVE = [ExportStatus.QUEUING, ExportStatus.GENERATING];
/** The turn filters are compiled in (src/turns.ts). */
const COMPILING = {};


/** An entity from the `alias_column` values of a raw row, converted as TypeORM converts its own reads. */
function hydrate<T extends object>(ds: DataSource, target: new () => T, alias: string, raw: Record<string, unknown>): T {
  const meta = ds.getMetadata(target);
  const entity = meta.create() as T;
  for (const column of meta.columns) column.setEntityValue(entity, ds.driver.prepareHydratedValue(raw[`${alias}_${column.databaseName}`], column));
  return entity;
}

export class ExportService {
  /** The check-then-insert of the export limit takes turns within this process (SQLite has no row locks). */
  private readonly createLock = new Mutex();
  /** See buildDownloadLookup. */
  private downloadLookup?: { sql: string; order: string[] };
  private readonly estimator: ExportEstimator;
  /** Where finished files are; removing an export deletes its file there. */
  readonly store: ExportStore;

  constructor(
    private readonly ds: DataSource,
    private readonly config: Config,
    private readonly datasets: DatasetService,
    private readonly events: ExportEvents,
    private readonly hooks: LifecycleHooks = NO_HOOKS,
  ) {
    this.estimator = new ExportEstimator(ds, dialectOf(config.databaseUrl));
    this.store = exportStoreOf(config);
  }

  limitsOf(user: UserEntity): UsageLimits {
    const own = user.limits ? (JSON.parse(user.limits) as Partial<UsageLimits>) : {};
    return {
      maxDataExports: own.maxDataExports ?? this.config.maxDataExports,
      maxDataExportRecords: own.maxDataExportRecords ?? this.config.maxDataExportRecords,
    };
  }

  async usageRemaining(user: UserEntity): Promise<UsageLimits> {
    const limits = this.limitsOf(user);
    const active = await this.ds.getRepository(DataExportEntity).countBy({ userId: user.id, status: In(ACTIVE) });
    return { maxDataExports: Math.max(0, limits.maxDataExports - active), maxDataExportRecords: limits.maxDataExportRecords };
  }

  /** Checks a request and turns it into the parameters the runner uses. */
  async validate(user: UserEntity, req: ExportRequest): Promise<ExportParams> {
    const ids = (req.dataRange?.datasets ?? []).map((d) => d.trim());
    if (!ids.length) throw badRequest('dataRange.datasets must name at least one dataset');
    if (ids.length > MAX_RANGE_DATASETS) throw badRequest(`dataRange.datasets names ${ids.length} datasets; at most ${MAX_RANGE_DATASETS} are allowed`);
    const datasetIds: number[] = [];
    for (const id of ids) {
      const dataset = await this.datasets.requireAccess(id, user.id, Permission.READ);
      if (!datasetIds.includes(dataset.id)) datasetIds.push(dataset.id);
    }
    const named = (req.dataRange.metrics ?? []).filter((m): m is string => m !== null);
    if (named.length > MAX_RANGE_METRICS) throw badRequest(`dataRange.metrics names ${named.length} metrics; at most ${MAX_RANGE_METRICS} are allowed (*::type selects every metric of a type)`);
    const metrics = named.map((m) => {
      const canonical = canonicalSelector(m);
      if (!canonical) throw badRequest(`metric "${m}" must be "name::type" or "*::type", with type ${METRIC_TYPES_TEXT}`);
      return canonical;
    });
    if (req.from != null && req.to != null && req.from >= req.to) {
      throw badRequest(`from (${req.from}) must be before to (${req.to}): from is inclusive, to exclusive`);
    }
    for (const [key, v] of [['from', req.from], ['to', req.to]] as const) {
      if (v != null && (!Number.isFinite(v) || v < 0)) throw badRequest(`${key} must be epoch milliseconds, 0 or more`);
    }
    if (req.limit != null && req.limit < 1) throw badRequest(`limit must be a positive number of records, not ${req.limit}`);
    const timeZone = req.timeZone ?? 'UTC';
    if (!isValidTimeZone(timeZone)) throw badRequest(`timeZone "${timeZone}" is not an IANA time zone (e.g. "Europe/Paris")`);
    const format = req.format ?? 'CSV';
    const packaging = req.packaging ?? 'NONE';
    checkFormatOptions(format, req, timeZone);
    if (req.name != null && req.name.length > 255) throw badRequest('name has at most 255 characters');
    checkNotify(this.config, req.notify);
    const latest = req.latest ?? false;
    const order = req.order ?? 'ASC';
    if (latest && order !== 'ASC') {
      throw badRequest(`order: ${order} does not apply with latest: true, whose rows come one per dataset, source and metric, in that order; leave order out`);
    }
    const filter = req.filter ?? null;
    // Compiling a filter of up to 1 000 operators takes milliseconds of the event loop: requests that
    // came together compile one per iteration, so others are answered between them (issue 10, probe 4b).
    if (filter !== null) await takeTurn(COMPILING);
    try {
      compileFilter(filter, dialectOf(this.config.databaseUrl));
    } catch (err: unknown) {
      if (err instanceof FilterError) throw badRequest(err.message);
      throw err;
    }
    return {
      datasetIds,
      metrics: metrics.length ? metrics : null,
      timestampPrecision: req.timestampPrecision ?? 'MILLISECONDS',
      fields: req.fields?.length ? req.fields : DEFAULT_FIELDS,
      filter,
      from: req.from ?? null,
      to: req.to ?? null,
      limit: req.limit ?? null,
      header: req.header ?? true,
      timestampFormat: req.timestampFormat ?? 'EPOCH',
      timeZone,
      excelSafe: req.excelSafe ?? false,
      format,
      packaging,
      maxRecords: this.limitsOf(user).maxDataExportRecords,
      ...(req.notify?.email ? { notify: { email: true } } : {}),
      latest,
      order,
    };
  }

  /** Queues an export; answers at once, the work happens in a worker. */
  async create(user: UserEntity, req: ExportRequest): Promise<DataExportEntity> {
    const params = await this.validate(user, req);
    const created = await this.inCreateTransaction((m) => this.insertQueued(m, user, params, req.name ?? null));
    this.announce(created, params);
    return created;
  }

  /** A transaction that may insert exports: serialised within the process, as SQLite has no row locks. */
  inCreateTransaction<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.createLock.run(() => inTransaction(this.ds, fn));
  }

  /** Inserts a queued export in the caller's transaction, if the user's maxDataExports allows one more. */
  async insertQueued(m: EntityManager, user: UserEntity, params: ExportParams, name: string | null, scheduleId: string | null = null): Promise<DataExportEntity> {
    const limits = this.limitsOf(user);
    // The user row lock makes count-then-insert atomic across servers on MySQL.
    if (m.connection.options.type !== 'better-sqlite3') await m.query('SELECT id FROM `user` WHERE id = ? FOR UPDATE', [user.id]);
    const active = await m.getRepository(DataExportEntity).countBy({ userId: user.id, status: In(ACTIVE) });
    if (active >= limits.maxDataExports) {
      throw new SluiceError(ErrorCode.LIMIT_REACHED, `you already have ${active} exports queued or generating; the limit is ${limits.maxDataExports} (maxDataExports). Wait for one to finish or cancel one.`);
    }
    const now = Date.now();
    // The snapshot: events received after this request are not in the export (ingest stamps ms * 1000).
    params.receivedUntil = now * 1000;
    const row = Object.assign(new DataExportEntity(), {
      id: crypto.randomUUID(), userId: user.id, name, params: JSON.stringify(params), status: ExportStatus.QUEUING,
      recordsEstimate: 0, recordsProcessed: 0, requestedOn: now, startedOn: null, completedOn: null, expiresOn: null, message: null,
      sizeBytes: 0, compressedSize: null, compressedSha256: null, sha256: null, truncated: false, fileName: null, attempt: 0, leaseOwner: null, leaseExpires: null,
      scheduleId, updatedOn: now,
    });
    await m.getRepository(DataExportEntity).insert(row);
    await this.hooks.queued(m, row.id);
    return row;
  }

  /** Once the insert is committed: tell subscribers and workers, and count the estimate. */
  announce(row: DataExportEntity, params: ExportParams): void {
    logger.info({ export: row.id, attempt: 0, status: ExportStatus.QUEUING, userId: row.userId }, 'export queued');
    this.events.changed(row.id, row.userId);
    this.events.queued();
    void this.fillEstimate(row, params);
  }

  /**
   * A new export with the same definition as a finished one, checked again (rights, limits) as if asked
   * for now. A schedule's run keeps its tsReceived window, so it holds that run's events again.
   */
  async rerun(user: UserEntity, id: string): Promise<DataExportEntity> {
    const row = await this.get(user, id);
    if (!TERMINAL_STATUSES.includes(row.status)) {
      throw badRequest(`export ${id} is ${row.status}; only a finished export (COMPLETED, FAILED or CANCELLED) can be re-run`);
    }
    const old = JSON.parse(row.params) as ExportParams;
    // Every parameter has the name of its request field, except the datasets; so fields added later carry over too.
    const req = { ...old, name: row.name, dataRange: { datasets: old.datasetIds.map(String), metrics: old.metrics } } as unknown as ExportRequest;
    const params: ExportParams = { ...(await this.validate(user, req)), receivedAfter: old.receivedAfter ?? null, receivedUpTo: old.receivedUpTo ?? null };
    const created = await this.inCreateTransaction((m) => this.insertQueued(m, user, params, row.name));
    this.announce(created, params);
    return created;
  }

  /** Counts in the background right after queuing, so the estimate is there before generation starts. */
  private async fillEstimate(row: DataExportEntity, params: ExportParams): Promise<void> {
    try {
      const records = await this.countRecords(params);
      const res = await this.ds
        .getRepository(DataExportEntity)
        .createQueryBuilder()
        .update()
        .set({ recordsEstimate: records, updatedOn: Date.now() })
        .where('id = :id AND records_estimate = 0 AND status IN (:...active)', { id: row.id, active: ACTIVE })
        .execute();
      if (res.affected) this.events.changed(row.id, row.userId);
    } catch (err) {
      logger.warn({ err: (err as Error).message, export: row.id }, 'could not estimate an export');
    }
  }

  private async countRecords(params: ExportParams): Promise<number> {
    const { records } = await this.estimator.count(params);
    return Math.min(records, recordCap(params).cap);
  }

  /** The user's own export (an administrator's: any); anyone else's does not exist. */
  async get(user: UserEntity, id: string): Promise<DataExportEntity> {
    return this.visibleTo(user, id, await this.find(id));
  }

  /**
   * A download's two look-ups in one statement: the user of the token (null: not a valid token) and the row
   * of export `id` whoever owns it (null: none), for `visibleTo`. One round trip on one connection instead
   * of two, which is most of what a download waits for before its first byte.
   */
  async findWithUser(token: string, id: string): Promise<{ user: UserEntity | null; row: DataExportEntity | null }> {
    this.downloadLookup ??= this.buildDownloadLookup();
    const { sql, order } = this.downloadLookup;
    const values: Record<string, string> = { id, hash: hashToken(token) };
    const [raw] = (await this.ds.query(sql, order.map((name) => values[name]))) as Record<string, unknown>[];
    if (!raw) return { user: null, row: null };
    return { user: hydrate(this.ds, UserEntity, 'u', raw), row: raw.e_id == null ? null : hydrate(this.ds, DataExportEntity, 'e', raw) };
  }

  /**
   * The lookup's SQL, made by the query builder once: building it and turning its row into entities
   * took half of a download's wait for its first byte (issue 15's bar against a bare file server).
   * Sentinel values say which placeholder is which.
   */
  private buildDownloadLookup(): { sql: string; order: string[] } {
    const [sql, params] = this.ds
      .getRepository(UserEntity)
      .createQueryBuilder('u')
      .innerJoin(AccessTokenEntity, 't', 't.user_id = u.id')
      .leftJoinAndSelect(DataExportEntity, 'e', 'e.id = :id', { id: '\0id' })
      .where('t.token_hash = :hash', { hash: '\0hash' })
      .getQueryAndParameters();
    const order = params.map((p) => String(p).slice(1));
    if (order.length !== 2 || !order.includes('id') || !order.includes('hash')) throw new Error(`the download lookup's parameters came out as ${JSON.stringify(params)}`);
    return { sql, order };
  }

  /** The row of export `id` whoever owns it, or null; pair it with `visibleTo` before showing it to anyone. */
  find(id: string): Promise<DataExportEntity | null> {
    return this.ds.getRepository(DataExportEntity).findOneBy({ id });
  }

  /** The row if `user` may see it (their own, or anyone's for an administrator); NOT_FOUND otherwise, as if it did not exist. */
  visibleTo(user: UserEntity, id: string, row: DataExportEntity | null): DataExportEntity {
    if (!row || (!user.admin && row.userId !== user.id)) throw notFound(`export ${id} not found`);
    return row;
  }

  /** `reason` is the canceller's words; an administrator cancelling someone else's export is named as such. */
  async cancel(user: UserEntity, id: string, message = 'cancelled by the user', reason?: string | null): Promise<DataExportEntity> {
    const row = await this.get(user, id);
    if (TERMINAL_STATUSES.includes(row.status)) {
      throw badRequest(`export ${id} is ${row.status}; only a QUEUING or GENERATING export can be cancelled`);
    }
    if (reason != null && reason.length > 1000) throw badRequest('reason has at most 1000 characters');
    if (row.userId !== user.id) message = `cancelled by an administrator: ${reason?.trim() || 'no reason given'}`;
    else if (reason?.trim()) message = `${message}: ${reason.trim()}`;
    const res = await inTransaction(this.ds, async (m) => {
      const done = await m
        .getRepository(DataExportEntity)
        .createQueryBuilder()
        .update()
        .set({ status: ExportStatus.CANCELLED, message, leaseOwner: null, leaseExpires: null, completedOn: Date.now(), updatedOn: Date.now() })
        .where('id = :id AND status IN (:...active)', { id, active: ACTIVE })
        .execute();
      if (done.affected === 1) await this.hooks.ended(m, id);
      return done;
    });
    const after = await this.get(user, id);
    if (res.affected !== 1 && after.status !== ExportStatus.CANCELLED) {
      throw badRequest(`export ${id} is ${after.status}; only a QUEUING or GENERATING export can be cancelled`);
    }
    if (res.affected === 1) {
      logger.info({ export: id, attempt: after.attempt, status: ExportStatus.CANCELLED, userId: row.userId }, 'export cancelled');
      countFinishedExport(ExportStatus.CANCELLED, formatOf(after.params));
    }
    this.events.changed(id, row.userId);
    return after;
  }

  /**
   * Cancels if needed, then deletes the record and its file. Returns the export as it last was. One
   * transaction deletes the row and writes a tombstone holding that last state (CANCELLED "removed by
   * the user" if it was still running), so every subscriber, in any process, sees one change: the
   * removal, never a cancel it could mistake for the end.
   */
  async remove(user: UserEntity, id: string): Promise<DataExportEntity> {
    const owned = await this.get(user, id);
    const message = owned.userId === user.id ? 'removed by the user' : 'removed by an administrator';
    const row = await inTransaction(this.ds, async (m) => {
      const repo = m.getRepository(DataExportEntity);
      const mysql = m.connection.options.type !== 'better-sqlite3';
      const found = await repo.findOne({ where: { id, userId: owned.userId }, ...(mysql ? { lock: { mode: 'pessimistic_write' as const } } : {}) });
      if (!found) throw notFound(`export ${id} not found`);
      const now = Date.now();
      let state = found;
      if (!TERMINAL_STATUSES.includes(found.status)) {
        // Cancelled through the guarded path in this same transaction, so its history and webhooks are written,
        // while subscribers see one change only: the removal.
        const done = await repo
          .createQueryBuilder()
          .update()
          .set({ status: ExportStatus.CANCELLED, message, leaseOwner: null, leaseExpires: null, completedOn: now, updatedOn: now })
          .where('id = :id AND status IN (:...active)', { id, active: ACTIVE })
          .execute();
        if (done.affected === 1) await this.hooks.ended(m, id);
        state = { ...found, status: ExportStatus.CANCELLED, message, leaseOwner: null, leaseExpires: null, completedOn: now, updatedOn: now };
        countFinishedExport(ExportStatus.CANCELLED, formatOf(found.params));
      }
      const removals = m.getRepository(ExportRemovalEntity);
      await removals.delete({ removedOn: LessThan(now - REMOVAL_KEPT_MS) });
      await removals.upsert({ exportId: id, userId: found.userId, removedOn: now, lastState: JSON.stringify(state) }, ['exportId']);
      await repo.delete({ id, userId: found.userId });
      return state;
    });
    // A worker still running it finds its lease gone at the next heartbeat and drops its temporary file.
    if (row.fileName) await this.store.remove(row.fileName);
    logger.info({ export: id, attempt: row.attempt, status: 'REMOVED', userId: row.userId }, 'export removed');
    this.events.changed(id, row.userId);
    return row;
  }

  list(user: UserEntity, filter: ExportListFilter, offset: number, limit: number): Promise<{ items: DataExportEntity[]; total: number }> {
    return this.listOf(user.id, filter, offset, limit);
  }

  /** One user's exports, or everyone's (`userId` null: for administrators only). */
  async listOf(userId: string | null, filter: ExportListFilter, offset: number, limit: number): Promise<{ items: DataExportEntity[]; total: number }> {
    const qb = this.ds.getRepository(DataExportEntity).createQueryBuilder('e');
    if (userId !== null) qb.where('e.user_id = :u', { u: userId });
    if (filter.statusIn?.length) qb.andWhere('e.status IN (:...st)', { st: filter.statusIn });
    if (filter.requestedOnGte != null) qb.andWhere('e.requested_on >= :gte', { gte: filter.requestedOnGte });
    if (filter.requestedOnLt != null) qb.andWhere('e.requested_on < :lt', { lt: filter.requestedOnLt });
    qb.orderBy('e.requested_on', 'DESC').addOrderBy('e.id', 'DESC');
    if (filter.nameRegex == null) {
      const [items, total] = await qb.skip(offset).take(limit).getManyAndCount();
      return { items, total };
    }
    let re: { test(s: string): boolean };
    try {
      re = boundedRegex(filter.nameRegex, false);
    } catch (err) {
      if (!(err instanceof RegexError)) throw err;
      throw badRequest(`filter.name._regex is not a valid regular expression: ${err.message}`);
    }
    // A user's exports are few; the regex runs here (RE2: linear time) so it means the same on every store.
    const all = (await qb.getMany()).filter((e) => re.test(e.name ?? ''));
    return { items: all.slice(offset, offset + limit), total: all.length };
  }

  /** Throws the reason a finished file cannot be had (not finished: CONFLICT; past retention: GONE). */
  assertDownloadable(row: DataExportEntity): asserts row is DataExportEntity & { fileName: string } {
    if (row.status !== ExportStatus.COMPLETED) {
      const why = row.message ? ` (${row.message})` : '';
      throw new SluiceError(ErrorCode.CONFLICT, `export ${row.id} is ${row.status}${why}; it can be downloaded once COMPLETED`);
    }
    if (!row.fileName || (row.expiresOn !== null && row.expiresOn <= Date.now())) {
      throw new SluiceError(ErrorCode.GONE, `export ${row.id} expired on ${new Date(row.expiresOn ?? 0).toISOString()} and its file was deleted; export again`);
    }
  }

  /** A dry run: how many records and roughly how many bytes the export would have. */
  async estimate(user: UserEntity, req: ExportRequest): Promise<{ records: number; bytes: number }> {
    const params = await this.validate(user, req);
    const records = await this.countRecords(params);
    return { records, bytes: estimateBytes(params, records) };
  }
}


/** §12: an option set to anything but its default where the format ignores it is refused, by name. */
function checkFormatOptions(format: FormatName, req: ExportRequest, timeZone: string): void {
  const misplaced: string[] = [];
  if (format !== 'CSV' && req.excelSafe) misplaced.push('excelSafe: true (it applies to CSV only)');
  if (format === 'PARQUET') {
    if (req.timestampFormat === 'ISO8601') misplaced.push('timestampFormat: ISO8601 (Parquet timestamps are typed, always UTC)');
    if (timeZone !== 'UTC') misplaced.push(`timeZone: "${timeZone}" (Parquet timestamps are typed, always UTC)`);
  }
  if (misplaced.length) throw badRequest(`${misplaced.join('; ')}: not an option for format ${format}; leave it at its default`);
}

export interface ExportListFilter {
  statusIn?: ExportStatus[] | null;
  nameRegex?: string | null;
  requestedOnGte?: number | null;
  requestedOnLt?: number | null;
}
