import { GraphQLError } from 'graphql';
import { Arg, Ctx, Root, Subscription, Resolver } from 'type-graphql';
import { DataExportEntity, ExportStatus, TERMINAL_STATUSES } from '../../entities/data-export.entity';
import { SluiceError } from '../../errors';
import { Context } from '../context';
import { toDataExport } from '../mappers';
import { DataExport } from '../types/export.types';

/** Sends at most this often per subscription (the spec's ceiling is 10 a second). */
const MIN_GAP_MS = 120;
/** While generating, a subscriber hears at least this often even if no change notice arrived. */
const MAX_SILENCE_MS = 1000;

/** A wake-up flag: many pokes between two waits count as one. */
class Signal {
  private pending = false;
  private wake?: () => void;

  poke(): void {
    this.pending = true;
    this.wake?.();
  }

  wait(timeoutMs: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = undefined;
        self.pending = false;
        resolve();
      }
      this.wake = done;
    });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function asGraphQLError(err: unknown): unknown {
  return err instanceof SluiceError ? new GraphQLError(err.message, { extensions: { code: err.code } }) : err;
}

function removed(last: DataExportEntity): DataExportEntity {
  return TERMINAL_STATUSES.includes(last.status) ? last : { ...last, status: ExportStatus.CANCELLED, message: 'removed by the user' };
}

/** The current state at once, then each change (throttled), then the terminal state, then the end. */
async function* exportUpdates(ctx: Context, first: DataExportEntity): AsyncGenerator<DataExport> {
  const repo = ctx.services.ds.getRepository(DataExportEntity);
  const signal = new Signal();
  const stopWatching = ctx.services.exportEvents.watch((exportId) => exportId === first.id && signal.poke());
  try {
    let row = first;
    let sentAt = Date.now();
    yield toDataExport(row);
    while (!TERMINAL_STATUSES.includes(row.status)) {
      await signal.wait(MAX_SILENCE_MS);
      const gap = Date.now() - sentAt;
      if (gap < MIN_GAP_MS) await sleep(MIN_GAP_MS - gap);
      const next = await repo.findOneBy({ id: first.id, userId: ctx.user.id });
      if (!next) {
        yield toDataExport(removed(row));
        return;
      }
      const silentTooLong = Date.now() - sentAt >= MAX_SILENCE_MS;
      if (next.updatedOn !== row.updatedOn || next.status !== row.status || silentTooLong) {
        row = next;
        sentAt = Date.now();
        yield toDataExport(row);
      }
    }
  } finally {
    stopWatching();
  }
}

/** Every change to any of the caller's exports. */
async function* myExportUpdates(ctx: Context): AsyncGenerator<DataExport> {
  const repo = ctx.services.ds.getRepository(DataExportEntity);
  const signal = new Signal();
  const dirty = new Set<string>();
  const last = new Map<string, DataExportEntity>();
  const stopWatching = ctx.services.exportEvents.watch((exportId, userId) => {
    if (userId !== ctx.user.id) return;
    dirty.add(exportId);
    signal.poke();
  });
  try {
    for (;;) {
      await signal.wait(60_000);
      const ids = [...dirty];
      dirty.clear();
      for (const id of ids) {
        const row = await repo.findOneBy({ id, userId: ctx.user.id });
        const before = last.get(id);
        if (!row) {
          if (before) yield toDataExport(removed(before));
          last.delete(id);
          continue;
        }
        if (before && before.updatedOn === row.updatedOn && before.status === row.status) continue;
        last.set(id, row);
        if (last.size > 1000) last.delete(last.keys().next().value as string);
        yield toDataExport(row);
      }
      await sleep(MIN_GAP_MS);
    }
  } finally {
    stopWatching();
  }
}

@Resolver()
export class SubscriptionResolver {
  @Subscription(() => DataExport, {
    description: 'the current state, then every change, then the terminal state; completes after it',
    subscribe: async ({ args, context }) => {
      const ctx = context as Context;
      try {
        return exportUpdates(ctx, await ctx.services.exports.get(ctx.user, String(args.id)));
      } catch (err) {
        throw asGraphQLError(err);
      }
    },
  })
  exportUpdated(@Root() payload: DataExport, @Arg('id', () => String, { description: 'the export id' }) _id: string, @Ctx() ctx: Context): DataExport {
    ctx.queuePositions = undefined; // each message reads the queue afresh
    return payload;
  }

  @Subscription(() => DataExport, {
    description: "every change to the caller's exports",
    subscribe: ({ context }) => myExportUpdates(context as Context),
  })
  myExportsUpdated(@Root() payload: DataExport, @Ctx() ctx: Context): DataExport {
    ctx.queuePositions = undefined;
    return payload;
  }
}
