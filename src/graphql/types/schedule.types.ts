import { Field, InputType, ObjectType } from 'type-graphql';
import { JSONScalar, LongScalar } from '../scalars';
import { CreateExportInput } from './export.types';
import { ResponseCode } from './enums';

@ObjectType({ description: 'An export made again and again on a cron schedule; each run is an ordinary export' })
export class ExportSchedule {
  @Field({ description: 'the schedule id' })
  id: string;

  @Field({ description: 'runs are named "<name> <ISO time of the tick>"' })
  name: string;

  @Field({ description: 'five standard cron fields (minute hour day-of-month month day-of-week), read in timeZone' })
  cron: string;

  @Field({ description: 'the IANA zone the cron expression is read in; daylight-saving changes are handled' })
  timeZone: string;

  @Field({ description: 'true: each run holds only what was received after the previous run\'s cutoff and up to its own' })
  incremental: boolean;

  @Field({ description: 'a paused schedule makes no runs; resuming goes on from the next tick' })
  paused: boolean;

  @Field(() => JSONScalar, { description: 'the CreateExportInput each run asks for' })
  definition: unknown;

  @Field(() => LongScalar, { nullable: true, description: 'when the next tick is due; null while paused' })
  nextRunOn: number | null;

  @Field(() => LongScalar, { nullable: true, description: 'the tick of the last run made' })
  lastRunOn: number | null;

  @Field(() => String, { nullable: true, description: 'why the last tick made no run (limits, rights); null after a run' })
  lastMessage: string | null;

  @Field(() => LongScalar, { description: 'when the schedule was made (epoch ms)' })
  createdOn: number;
}

@InputType({ description: 'A schedule: a name, the export it runs, and when' })
export class CreateExportScheduleInput {
  @Field({ description: 'at most 200 characters' })
  name: string;

  @Field(() => CreateExportInput, { description: 'checked like createExport now, and again at every tick' })
  export: CreateExportInput;

  @Field({ description: 'five standard cron fields, e.g. "0 2 * * *" for 02:00 every day' })
  cron: string;

  @Field(() => String, { nullable: true, defaultValue: 'UTC', description: 'IANA zone the cron expression is read in' })
  timeZone?: string;

  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'each run holds only what is new since the previous run' })
  incremental?: boolean;
}

@ObjectType({ description: 'The answer to a schedule mutation' })
export class ExportScheduleResponse {
  @Field(() => ResponseCode, { description: 'SUCCESS, or why not' })
  responseCode: ResponseCode;

  @Field(() => String, { nullable: true, description: 'what went wrong, in words; or what was done' })
  message: string | null;

  @Field(() => ExportSchedule, { nullable: true, description: 'the schedule as it is now; null on failure' })
  item: ExportSchedule | null;
}

/** Carries the schedule id to pause/resume/remove/runNow nested under onExportSchedule. */
@ObjectType({ description: 'What can be done to one schedule' })
export class ExportScheduleMutation {
  scheduleId: string;
}
