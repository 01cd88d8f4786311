import { Arg, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import { ExportStatus } from '../../entities/data-export.entity';
import { JSONScalar } from '../scalars';
import { Context } from '../context';
import { toDataExport, toDataset } from '../mappers';
import { nextCursor, pageWindow } from '../paging';
import { DatasetPage } from '../types/dataset.types';
import { DataExport, DataExportFilter, DataExportPage } from '../types/export.types';
import { UsageLimit, User } from '../types/user.types';

@Resolver(() => User)
export class UserResolver {
  @Query(() => User)
  me(@Ctx() ctx: Context): User {
    return { id: ctx.user.id, email: ctx.user.email };
  }

  @FieldResolver(() => DatasetPage)
  async datasets(
    @Ctx() ctx: Context,
    @Arg('cursor', () => String, { nullable: true }) cursor?: string | null,
    @Arg('limit', () => Int, { nullable: true }) limit?: number | null,
  ): Promise<DatasetPage> {
    const page = pageWindow(cursor, limit);
    const { items, total } = await ctx.services.datasets.listForUser(ctx.user.id, page.offset, page.limit);
    const datasets = await Promise.all(items.map(async (d) => toDataset(d, await ctx.services.datasets.metrics(d.id))));
    return { items: datasets, cursor: nextCursor(page.offset, page.limit, total), count: total };
  }

  @FieldResolver(() => DataExport, { nullable: true })
  async export(@Ctx() ctx: Context, @Arg('id', () => String) id: string): Promise<DataExport> {
    return toDataExport(await ctx.services.exports.get(ctx.user, id));
  }

  @FieldResolver(() => DataExportPage)
  async exports(
    @Ctx() ctx: Context,
    @Arg('cursor', () => String, { nullable: true }) cursor?: string | null,
    @Arg('limit', () => Int, { nullable: true }) limit?: number | null,
    @Arg('filter', () => DataExportFilter, { nullable: true }) filter?: DataExportFilter | null,
  ): Promise<DataExportPage> {
    const page = pageWindow(cursor, limit);
    const { items, total } = await ctx.services.exports.list(
      ctx.user,
      {
        statusIn: filter?.status?._in as ExportStatus[] | undefined,
        nameRegex: filter?.name?._regex,
        requestedOnGte: filter?.requestedOn?._gte,
        requestedOnLt: filter?.requestedOn?._lt,
      },
      page.offset,
      page.limit,
    );
    return { items: items.map(toDataExport), cursor: nextCursor(page.offset, page.limit, total), count: total };
  }

  @FieldResolver(() => UsageLimit)
  usageLimit(@Root() _user: User, @Ctx() ctx: Context): UsageLimit {
    return { values: { ...ctx.services.exports.limitsOf(ctx.user) } };
  }

  @FieldResolver(() => JSONScalar)
  usageRemaining(@Ctx() ctx: Context): Promise<unknown> {
    ctx.usageRemaining ??= ctx.services.exports.usageRemaining(ctx.user);
    return ctx.usageRemaining;
  }
}
