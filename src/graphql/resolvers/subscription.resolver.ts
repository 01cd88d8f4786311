import { GraphQLError } from 'graphql';
import { Arg, Ctx, Root, Subscription, Resolver } from 'type-graphql';
import { SluiceError } from '../../errors';
import { endOnReturn, ExportChange } from '../../exports/export-watch';
import { Context } from '../context';
import { toExportChange } from '../mappers';
import { DataExport } from '../types/export.types';

function asGraphQLError(err: unknown): unknown {
  return err instanceof SluiceError ? new GraphQLError(err.message, { extensions: { code: err.code } }) : err;
}

@Resolver()
export class SubscriptionResolver {
  @Subscription(() => DataExport, {
    description: 'the current state, then every change, then the terminal state (or the removal, marked removed: true); completes after it',
    subscribe: async ({ args, context }) => {
      const ctx = context as Context;
      try {
        const first = await ctx.services.exports.get(ctx.user, String(args.id));
        return endOnReturn((abort) => ctx.services.exportWatch.follow(ctx.user, first, abort), ctx.socket?.started());
      } catch (err) {
        throw asGraphQLError(err);
      }
    },
  })
  exportUpdated(@Root() change: ExportChange, @Arg('id', () => String, { description: 'the export id' }) _id: string, @Ctx() ctx: Context): DataExport {
    ctx.queuePositions = undefined; // each message reads the queue afresh
    return toExportChange(change);
  }

  @Subscription(() => DataExport, {
    description: "every change to the caller's exports, and each removal (the export's last state, marked removed: true)",
    subscribe: ({ context }) => {
      const ctx = context as Context;
      return endOnReturn((abort) => ctx.services.exportWatch.followMine(ctx.user, abort), ctx.socket?.started());
    },
  })
  myExportsUpdated(@Root() change: ExportChange, @Ctx() ctx: Context): DataExport {
    ctx.queuePositions = undefined;
    return toExportChange(change);
  }
}
