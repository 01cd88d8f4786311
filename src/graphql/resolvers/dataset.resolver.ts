import { Arg, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Permission } from '../../entities/dataset-member.entity';
import { notFound } from '../../errors';
import { Context } from '../context';
import { envelope } from '../envelope';
import { toDataset } from '../mappers';
import { CreateDatasetInput, Dataset, DatasetMutation, DatasetResponse, Metric } from '../types/dataset.types';

@Resolver()
export class DatasetResolver {
  @Query(() => Dataset, { description: "a dataset the caller is a member of; null if there is none such", nullable: true })
  async dataset(@Ctx() ctx: Context, @Arg('id', () => String, { description: "the dataset id" }) id: string): Promise<Dataset | null> {
    const dataset = await ctx.services.datasets.requireAccess(id, ctx.user.id, Permission.READ);
    return toDataset(dataset);
  }

  @Mutation(() => DatasetResponse, { description: "makes a dataset" })
  createDataset(@Ctx() ctx: Context, @Arg('input', () => CreateDatasetInput, { description: "the new dataset" }) input: CreateDatasetInput): Promise<DatasetResponse> {
    return envelope(async () => {
      const dataset = await ctx.services.datasets.create(input.name, ctx.user.id, input.description ?? null);
      return { item: toDataset(dataset) };
    }, { item: null });
  }

  @Mutation(() => DatasetMutation, { description: "changes to one dataset" })
  onDataset(@Arg('id', () => String, { description: "the dataset id" }) id: string): DatasetMutation {
    return { datasetId: id };
  }
}

@Resolver(() => DatasetMutation)
export class DatasetMutationResolver {
  @FieldResolver(() => DatasetResponse, { description: "gives a user a permission on the dataset (or changes theirs)" })
  addMember(
    @Root() root: DatasetMutation,
    @Ctx() ctx: Context,
    @Arg('email', () => String, { description: "the user's e-mail address" }) email: string,
    @Arg('permission', () => Permission, { description: "what they may do" }) permission: Permission,
  ): Promise<DatasetResponse> {
    return envelope(async () => {
      const dataset = await ctx.services.datasets.requireAccess(root.datasetId, ctx.user.id, Permission.MANAGE);
      const member = await ctx.services.users.findByEmail(email);
      await ctx.services.datasets.changeMember(dataset.id, ctx.user.id, member.id, permission);
      return { item: toDataset(dataset), message: `${member.email} now has ${permission} on dataset ${dataset.id}` };
    }, { item: null });
  }

  @FieldResolver(() => DatasetResponse, { description: "takes a user's access to the dataset away" })
  removeMember(@Root() root: DatasetMutation, @Ctx() ctx: Context, @Arg('email', () => String, { description: "the user's e-mail address" }) email: string): Promise<DatasetResponse> {
    return envelope(async () => {
      const dataset = await ctx.services.datasets.requireAccess(root.datasetId, ctx.user.id, Permission.MANAGE);
      const member = await ctx.services.users.findByEmail(email);
      if ((await ctx.services.datasets.changeMember(dataset.id, ctx.user.id, member.id, null)) === 'absent') {
        throw notFound(`${member.email} is not a member of dataset ${dataset.id}`);
      }
      return { item: toDataset(dataset), message: `${member.email} removed from dataset ${dataset.id}` };
    }, { item: null });
  }
}

@Resolver(() => Dataset)
export class DatasetMetricsResolver {
  @FieldResolver(() => [Metric], { description: "every metric the dataset has received events for, by name" })
  metrics(@Root() root: Dataset, @Ctx() ctx: Context): Promise<Metric[]> {
    // Whoever made this Dataset checked the caller may read it.
    return ctx.services.datasets.metricList(Number(root.id));
  }
}
