import { Arg, Ctx, Int, Query, Resolver } from 'type-graphql';
import { ExportStatus } from '../../entities/data-export.entity';
import { ErrorCode, SluiceError } from '../../errors';
import { Context } from '../context';
import { toDataExport, toListFilter } from '../mappers';
import { nextCursor, pageWindow } from '../paging';
import { DataExport, DataExportFilter, DataExportPage } from '../types/export.types';

@Resolver(() => DataExport)
export class AdminResolver {
  @Query(() => DataExportPage, { description: 'every user\'s exports, newest first (administrators only: FORBIDDEN for others)' })
  async adminExports(
    @Ctx() ctx: Context,
    @Arg('cursor', () => String, { nullable: true, description: 'the cursor of the previous page; omit for the first' }) cursor?: string | null,
    @Arg('limit', () => Int, { nullable: true, description: 'exports per page: default 25, at most 1000' }) limit?: number | null,
    @Arg('filter', () => DataExportFilter, { nullable: true, description: 'status, name and requestedOn conditions' }) filter?: DataExportFilter | null,
    @Arg('userEmail', () => String, { nullable: true, description: 'only this user\'s exports' }) userEmail?: string | null,
  ): Promise<DataExportPage> {
    if (!ctx.user.admin) throw new SluiceError(ErrorCode.FORBIDDEN, 'adminExports is for administrators (users made with `sluice user create --admin`)');
    const page = pageWindow(cursor, limit);
    let userId: string | null = null;
    if (userEmail != null) {
      const owner = await ctx.services.users.findByEmail(userEmail).catch(() => null);
      if (!owner) return { items: [], cursor: null, count: 0 };
      userId = owner.id;
    }
    const { items, total } = await ctx.services.exports.listOf(
      userId,
      toListFilter(filter),
      page.offset,
      page.limit,
    );
    return { items: items.map(toDataExport), cursor: nextCursor(page.offset, page.limit, total), count: total };
  }
}
