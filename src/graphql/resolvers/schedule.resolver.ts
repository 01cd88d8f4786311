import { Arg, Ctx, FieldResolver, Int, Mutation, Resolver, Root } from 'type-graphql';
import { ExportScheduleEntity } from '../../entities/export-schedule.entity';
import { Context } from '../context';
import { envelope } from '../envelope';
import { toDataExport } from '../mappers';
import { DataExport, ExportMutation, ExportResponse } from '../types/export.types';
import { CreateExportScheduleInput, ExportSchedule, ExportScheduleMutation, ExportScheduleResponse } from '../types/schedule.types';
import { User } from '../types/user.types';

export function toExportSchedule(e: ExportScheduleEntity): ExportSchedule {
  return {
    id: e.id, name: e.name, cron: e.cron, timeZone: e.timeZone, incremental: e.incremental, paused: e.paused,
    definition: JSON.parse(e.definition), nextRunOn: e.nextRunOn, lastRunOn: e.lastRunOn, lastMessage: e.lastMessage, createdOn: e.createdOn,
  };
}

@Resolver(() => ExportSchedule)
export class ScheduleResolver {
  @Mutation(() => ExportScheduleResponse, { description: 'a schedule of runs of one export definition; a user holds at most 100 (LIMIT_REACHED past that)' })
  createExportSchedule(@Ctx() ctx: Context, @Arg('input', () => CreateExportScheduleInput, { description: 'the schedule: name, export, cron, zone, incremental' }) input: CreateExportScheduleInput): Promise<ExportScheduleResponse> {
    return envelope(async () => ({ item: toExportSchedule(await ctx.services.schedules.create(ctx.user, input)) }), { item: null });
  }

  @Mutation(() => ExportScheduleMutation, { description: 'acts on one of your schedules' })
  onExportSchedule(@Arg('id', () => String, { description: 'the schedule id' }) id: string): ExportScheduleMutation {
    return { scheduleId: id };
  }

  @FieldResolver(() => [DataExport], { description: 'its runs, newest first; runs stay after the schedule is removed' })
  async runs(
    @Root() root: ExportSchedule,
    @Ctx() ctx: Context,
    @Arg('limit', () => Int, { defaultValue: 20, description: 'at most 1000' }) limit: number,
  ): Promise<DataExport[]> {
    return (await ctx.services.schedules.runs(root.id, limit)).map(toDataExport);
  }
}

@Resolver(() => ExportScheduleMutation)
export class ScheduleMutationResolver {
  @FieldResolver(() => ExportScheduleResponse, { description: 'no runs until resumed' })
  pause(@Root() root: ExportScheduleMutation, @Ctx() ctx: Context): Promise<ExportScheduleResponse> {
    return envelope(async () => ({ item: toExportSchedule(await ctx.services.schedules.pause(ctx.user, root.scheduleId)) }), { item: null });
  }

  @FieldResolver(() => ExportScheduleResponse, { description: 'runs again from the next tick; ticks missed while paused are not made up' })
  resume(@Root() root: ExportScheduleMutation, @Ctx() ctx: Context): Promise<ExportScheduleResponse> {
    return envelope(async () => ({ item: toExportSchedule(await ctx.services.schedules.resume(ctx.user, root.scheduleId)) }), { item: null });
  }

  @FieldResolver(() => ExportScheduleResponse, { description: 'deletes the schedule; its past runs are kept' })
  remove(@Root() root: ExportScheduleMutation, @Ctx() ctx: Context): Promise<ExportScheduleResponse> {
    return envelope(async () => ({ item: toExportSchedule(await ctx.services.schedules.remove(ctx.user, root.scheduleId)), message: `schedule ${root.scheduleId} removed` }), { item: null });
  }

  @FieldResolver(() => ExportScheduleResponse, { description: 'makes a run at once; the message names the new export' })
  runNow(@Root() root: ExportScheduleMutation, @Ctx() ctx: Context): Promise<ExportScheduleResponse> {
    return envelope(async () => {
      const { schedule, run } = await ctx.services.schedules.runNow(ctx.user, root.scheduleId);
      return { item: toExportSchedule(schedule), message: `run ${run.id} queued` };
    }, { item: null });
  }
}

/** The links in and out of the export and user types. */
@Resolver(() => User)
export class UserSchedulesResolver {
  @FieldResolver(() => [ExportSchedule], { description: 'your export schedules, oldest first' })
  async exportSchedules(@Ctx() ctx: Context): Promise<ExportSchedule[]> {
    return (await ctx.services.schedules.list(ctx.user)).map(toExportSchedule);
  }
}

@Resolver(() => DataExport)
export class ExportScheduleLinkResolver {
  @FieldResolver(() => ExportSchedule, { nullable: true, description: 'the schedule this export is a run of; null unless it is a run (or once the schedule is removed)' })
  async schedule(@Root() root: DataExport, @Ctx() ctx: Context): Promise<ExportSchedule | null> {
    if (!root.scheduleId) return null;
    const row = await ctx.services.schedules.find(root.scheduleId);
    return row && row.userId === root.userId ? toExportSchedule(row) : null;
  }
}

@Resolver(() => ExportMutation)
export class ExportRerunResolver {
  @FieldResolver(() => ExportResponse, { description: 'a new export with the same definition; a schedule run\'s re-run holds that run\'s window again' })
  rerun(@Root() root: ExportMutation, @Ctx() ctx: Context): Promise<ExportResponse> {
    return envelope(async () => ({ item: toDataExport(await ctx.services.exports.rerun(ctx.user, root.exportId)) }), { item: null });
  }
}
