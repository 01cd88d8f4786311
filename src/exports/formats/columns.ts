import { FIELD_COLUMNS, MICROS_PER } from '../../events/event-schema';
import { ExportParams, Precision } from '../params';

export { FIELD_COLUMNS };

/** Collects the columns a writer reads, each once, and tells where each one is in a row. */
export class ColumnPlan {
  readonly columns: string[] = [];
  indexOf(column: string): number {
    let i = this.columns.indexOf(column);
    if (i < 0) i = this.columns.push(column) - 1;
    return i;
  }
}

/** µs epoch (as stored) -> epoch integer in the export's precision, truncated towards the past. */
export function epochIn(precision: Precision): (micros: number) => number {
  const divisor = MICROS_PER[precision];
  return divisor === 1 ? (us) => us : (us) => Math.floor(us / divisor);
}

export type ValueKind = 'number' | 'numbers' | 'bool' | 'string' | 'json';

/** The kind of a metric's values, from its `::type` suffix (`boolean` is an older name of `bool`). */
export function valueKind(metric: string): ValueKind {
  const type = metric.slice(metric.lastIndexOf('::') + 2);
  switch (type) {
    case 'number':
      return 'number';
    case 'number[]':
      return 'numbers';
    case 'bool':
    case 'boolean':
      return 'bool';
    case 'json':
      return 'json';
    default:
      return 'string';
  }
}

/** True when every selected metric is a `::number` one (named or `*::number`): the value column can be typed. */
export function onlyNumberMetrics(params: ExportParams): boolean {
  return !!params.metrics?.length && params.metrics.every((m) => m.endsWith('::number'));
}
