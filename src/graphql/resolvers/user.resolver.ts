import { Arg, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import { ExportStatus } from '../../entities/data-export.entity';
import { JSONScalar } from '../scalars';
import { Context } from '../context';
import { toDataExport, toListFilter, toDataset } from '../mappers';
import { nextCursor, pageWindow } from '../paging';
import { DatasetPage } from '../types/dataset.types';
import { DataExport, DataExportFilter, DataExportPage } from '../types/export.types';
import { UsageLimit, User } from '../types/user.types';

@Resolver(() => User)
export class UserResolver {
  @Query(() => User, { description: "the caller" })
  me(@Ctx() ctx: Context): User {
    return { id: ctx.user.id, email: ctx.user.email };
  }

  @FieldResolver(() => DatasetPage, { description: "the datasets the user is a member of" })
  async datasets(
    @Ctx() ctx: Context,
    @Arg('cursor', () => String, { description: "the cursor of the previous page; none for the first", nullable: true }) cursor?: string | null,
    @Arg('limit', () => Int, { description: "datasets per page: default 25, at most 1000", nullable: true }) limit?: number | null,
  ): Promise<DatasetPage> {
    const page = pageWindow(cursor, limit);
    const { items, total } = await ctx.services.datasets.listForUser(ctx.user.id, page.offset, page.limit);
    const datasets = items.map(toDataset);
    return { items: datasets, cursor: nextCursor(page.offset, page.limit, total), count: total };
  }

  @FieldResolver(() => DataExport, { description: "one of the user's exports by id; null if there is none such", nullable: true })
  async export(@Ctx() ctx: Context, @Arg('id', () => String, { description: "the export id" }) id: string): Promise<DataExport> {
    return toDataExport(await ctx.services.exports.get(ctx.user, id));
  }

  @FieldResolver(() => DataExportPage, { description: "the user's exports, newest first" })
  async exports(
    @Ctx() ctx: Context,
    @Arg('cursor', () => String, { description: "the cursor of the previous page; none for the first", nullable: true }) cursor?: string | null,
    @Arg('limit', () => Int, { description: "exports per page: default 25, at most 1000", nullable: true }) limit?: number | null,
    @Arg('filter', () => DataExportFilter, { description: "only exports that match", nullable: true }) filter?: DataExportFilter | null,
  ): Promise<DataExportPage> {
    const page = pageWindow(cursor, limit);
    const { items, total } = await ctx.services.exports.list(
      ctx.user,
      toListFilter(filter),
      page.offset,
      page.limit,
    );
    return { items: items.map(toDataExport), cursor: nextCursor(page.offset, page.limit, total), count: total };
  }

  @FieldResolver(() => UsageLimit, { description: "the user's limits" })
  usageLimit(@Root() _user: User, @Ctx() ctx: Context): UsageLimit {
    return { values: { ...ctx.services.exports.limitsOf(ctx.user) } };
  }

  @FieldResolver(() => JSONScalar, { description: "what is left of the limits now: { maxDataExports, maxDataExportRecords }" })
  usageRemaining(@Ctx() ctx: Context): Promise<unknown> {
    ctx.usageRemaining ??= ctx.services.exports.usageRemaining(ctx.user);
    return ctx.usageRemaining;
  }
}
