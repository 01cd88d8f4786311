import { Arg, Ctx, FieldResolver, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { ExportStatus } from '../../entities/data-export.entity';
import { Context } from '../context';
import { envelope } from '../envelope';
import { toDataExport, toDataset } from '../mappers';
import { Dataset } from '../types/dataset.types';
import {
  CreateExportInput, DataExport, DataExportResult, DataExportStatus, DataRange, DownloadLinkResponse, ExportEstimate, ExportMutation,
  ExportResponse,
} from '../types/export.types';
import { User } from '../types/user.types';

@Resolver(() => DataExport)
export class ExportResolver {
  @Mutation(() => ExportResponse, { description: "queues an export; answers at once, a worker makes the file" })
  createExport(@Ctx() ctx: Context, @Arg('input', () => CreateExportInput, { description: "what to export and how" }) input: CreateExportInput): Promise<ExportResponse> {
    return envelope(async () => ({ item: toDataExport(await ctx.services.exports.create(ctx.user, input)) }), { item: null });
  }

  @Mutation(() => ExportResponse, { description: 'the name the export guide uses; the same as createExport' })
  createStream(@Ctx() ctx: Context, @Arg('input', () => CreateExportInput, { description: "what to export and how" }) input: CreateExportInput): Promise<ExportResponse> {
    return this.createExport(ctx, input);
  }

  @Mutation(() => ExportMutation, { description: "actions on one of the caller's exports" })
  onExport(@Arg('id', () => String, { description: "the export id" }) id: string): ExportMutation {
    return { exportId: id };
  }

  @Query(() => ExportEstimate, { description: 'a dry run' })
  estimateExport(@Ctx() ctx: Context, @Arg('input', () => CreateExportInput, { description: "the export to count, as createExport takes it" }) input: CreateExportInput): Promise<ExportEstimate> {
    return ctx.services.exports.estimate(ctx.user, input);
  }

  @FieldResolver(() => User, { description: "who asked for it (always the caller)" })
  async user(@Root() root: DataExport, @Ctx() ctx: Context): Promise<User> {
    // Only the owner sees an export, or an administrator, who may be looking at someone else's.
    if (root.userId === ctx.user.id) return { id: ctx.user.id, email: ctx.user.email };
    const owner = await ctx.services.users.findById(root.userId);
    return { id: root.userId, email: owner?.email ?? '' };
  }

  @FieldResolver(() => DataRange, { description: "the datasets and metrics it covers" })
  async dataRange(@Root() root: DataExport, @Ctx() ctx: Context): Promise<DataRange> {
    // Only what the caller can still read: a member removed since asking sees no name, description or metrics.
    const datasets: Dataset[] = [];
    ctx.readable ??= new Map();
    for (const id of root.datasetIds) {
      let readable = ctx.readable.get(id);
      if (!readable) ctx.readable.set(id, (readable = ctx.services.datasets.permissionOf(id, ctx.user.id).then((p) => p !== null)));
      if (!(await readable)) continue;
      const d = await ctx.services.datasets.findById(id);
      if (d) datasets.push(toDataset(d));
    }
    return { datasets, metrics: root.metrics };
  }

  @FieldResolver(() => DataExportStatus, { description: "where it stands" })
  async status(@Root() root: DataExport, @Ctx() ctx: Context): Promise<DataExportStatus> {
    if (root.statusValue.status !== ExportStatus.QUEUING) return root.statusValue;
    ctx.queuePositions ??= ctx.services.queue.queuePositions();
    return { ...root.statusValue, queuePosition: (await ctx.queuePositions).get(root.id) ?? null };
  }

  @FieldResolver(() => DataExportResult, { description: "the file, once COMPLETED; null before", nullable: true })
  result(@Root() root: DataExport): DataExportResult | null {
    return root.resultValue;
  }
}

@Resolver(() => ExportMutation)
export class ExportMutationResolver {
  @FieldResolver(() => ExportResponse, { description: 'stops a QUEUING or GENERATING export; its partial file is removed' })
  cancel(
    @Root() root: ExportMutation,
    @Ctx() ctx: Context,
    @Arg('reason', () => String, { nullable: true, description: 'why, in words kept in the export\'s message (an administrator\'s cancel of another user\'s export reads "cancelled by an administrator: <reason>")' }) reason?: string | null,
  ): Promise<ExportResponse> {
    return envelope(async () => ({ item: toDataExport(await ctx.services.exports.cancel(ctx.user, root.exportId, undefined, reason)) }), { item: null });
  }

  @FieldResolver(() => ExportResponse, { description: "cancels it if needed, then deletes it and its file" })
  remove(@Root() root: ExportMutation, @Ctx() ctx: Context): Promise<ExportResponse> {
    return envelope(async () => ({ item: toDataExport(await ctx.services.exports.remove(ctx.user, root.exportId)), message: `export ${root.exportId} removed` }), { item: null });
  }

  @FieldResolver(() => DownloadLinkResponse, { description: 'a link to download the COMPLETED file, valid DOWNLOAD_LINK_TTL or validFor seconds' })
  createDownloadLink(
    @Root() root: ExportMutation,
    @Ctx() ctx: Context,
    @Arg('validFor', () => Int, { nullable: true, description: 'seconds the link stays valid (default DOWNLOAD_LINK_TTL), at most until the export\'s expiresOn' }) validFor?: number | null,
  ): Promise<DownloadLinkResponse> {
    return envelope(async () => {
      const row = await ctx.services.exports.get(ctx.user, root.exportId);
      ctx.services.exports.assertDownloadable(row);
      return ctx.services.downloadLinks.createFor(row.id, row.expiresOn, validFor);
    }, { link: null, expiresOn: null });
  }
}
