import { Arg, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Permission } from '../../entities/dataset-member.entity';
import { notFound } from '../../errors';
import { Context } from '../context';
import { envelope } from '../envelope';
import { toDataset } from '../mappers';
import { CreateDatasetInput, Dataset, DatasetMutation, DatasetResponse } from '../types/dataset.types';

@Resolver()
export class DatasetResolver {
  @Query(() => Dataset, { nullable: true })
  async dataset(@Ctx() ctx: Context, @Arg('id', () => String) id: string): Promise<Dataset | null> {
    const dataset = await ctx.services.datasets.requireAccess(id, ctx.user.id, Permission.READ);
    return toDataset(dataset, await ctx.services.datasets.metrics(dataset.id));
  }

  @Mutation(() => DatasetResponse)
  createDataset(@Ctx() ctx: Context, @Arg('input', () => CreateDatasetInput) input: CreateDatasetInput): Promise<DatasetResponse> {
    return envelope(async () => {
      const dataset = await ctx.services.datasets.create(input.name, ctx.user.id, input.description ?? null);
      return { item: toDataset(dataset, []) };
    }, { item: null });
  }

  @Mutation(() => DatasetMutation)
  onDataset(@Arg('id', () => String) id: string): DatasetMutation {
    return { datasetId: id };
  }
}

@Resolver(() => DatasetMutation)
export class DatasetMutationResolver {
  @FieldResolver(() => DatasetResponse)
  addMember(
    @Root() root: DatasetMutation,
    @Ctx() ctx: Context,
    @Arg('email', () => String) email: string,
    @Arg('permission', () => Permission) permission: Permission,
  ): Promise<DatasetResponse> {
    return envelope(async () => {
      const dataset = await ctx.services.datasets.requireAccess(root.datasetId, ctx.user.id, Permission.MANAGE);
      const member = await ctx.services.users.findByEmail(email);
      await ctx.services.datasets.changeMember(dataset.id, ctx.user.id, member.id, permission);
      return { item: toDataset(dataset, await ctx.services.datasets.metrics(dataset.id)), message: `${member.email} now has ${permission} on dataset ${dataset.id}` };
    }, { item: null });
  }

  @FieldResolver(() => DatasetResponse)
  removeMember(@Root() root: DatasetMutation, @Ctx() ctx: Context, @Arg('email', () => String) email: string): Promise<DatasetResponse> {
    return envelope(async () => {
      const dataset = await ctx.services.datasets.requireAccess(root.datasetId, ctx.user.id, Permission.MANAGE);
      const member = await ctx.services.users.findByEmail(email);
      if ((await ctx.services.datasets.changeMember(dataset.id, ctx.user.id, member.id, null)) === 'absent') {
        throw notFound(`${member.email} is not a member of dataset ${dataset.id}`);
      }
      return { item: toDataset(dataset, await ctx.services.datasets.metrics(dataset.id)), message: `${member.email} removed from dataset ${dataset.id}` };
    }, { item: null });
  }
}
