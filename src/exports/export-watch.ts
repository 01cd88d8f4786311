import { DataSource } from 'typeorm';
import { DataExportEntity, TERMINAL_STATUSES } from '../entities/data-export.entity';
import { ExportRemovalEntity } from '../entities/export-removal.entity';
import { UserEntity } from '../entities/user.entity';
import { ExportEvents } from './export-events';

/** What a subscriber is told: the export's new state, or that it was removed (with the state it last had). */
export type ExportChange = { kind: 'changed'; export: DataExportEntity } | { kind: 'removed'; export: DataExportEntity };

/** Sends at most this often per subscription (the spec's ceiling is 10 a second). */
const MIN_GAP_MS = 120;
/** While generating, a subscriber hears at least this often even if no change notice arrived. */
const MAX_SILENCE_MS = 1000;
/** Exports remembered per `followMine` subscription, to tell a change from a repeat. */
const REMEMBERED = 1000;

/** A wake-up flag: many pokes between two waits count as one; an abort ends every wait at once. */
class Signal {
  private pending = false;
  private wake?: () => void;

  constructor(private readonly abort: AbortSignal) {
    abort.addEventListener('abort', () => this.wake?.(), { once: true });
  }

  poke(): void {
    this.pending = true;
    this.wake?.();
  }

  wait(timeoutMs: number): Promise<void> {
    if (this.pending || this.abort.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.pending = false;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.wake = done;
    });
  }
}

function pause(ms: number, abort: AbortSignal): Promise<void> {
  if (abort.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      abort.removeEventListener('abort', done);
      resolve();
    }
    abort.addEventListener('abort', done, { once: true });
  });
}

/**
 * Wraps a generator so that `return()` (the client completed, or its socket closed) ends it at once:
 * the abort wakes whatever it waits on, instead of `return()` queueing behind a wait of up to a minute.
 * `onEnd` runs once the generator has really finished (its listeners are gone).
 */
export function endOnReturn<T>(make: (abort: AbortSignal) => AsyncGenerator<T>, onEnd: () => void = () => undefined): AsyncGenerator<T> {
  const controller = new AbortController();
  const source = make(controller.signal);
  let ended = false;
  const end = () => {
    if (!ended) {
      ended = true;
      onEnd();
    }
  };
  const settle = async <R>(step: Promise<IteratorResult<T, R>>) => {
    try {
      const result = await step;
      if (result.done) end();
      return result;
    } catch (err) {
      end();
      throw err;
    }
  };
  const wrapped: AsyncGenerator<T> = {
    next: () => settle(source.next()),
    return: (value?: unknown) => {
      controller.abort();
      return settle(source.return(value as never));
    },
    throw: (err?: unknown) => {
      controller.abort();
      return settle(source.throw(err));
    },
    [Symbol.asyncIterator]() {
      return wrapped;
    },
  } as AsyncGenerator<T>;
  return wrapped;
}

/**
 * Follows exports for subscriptions: the row is read afresh on every notice (in-process, or from other
 * processes through ExportChanges), and a row that is gone is looked up among the removal tombstones,
 * so a removal is always announced, also one made on another server or of an export not reported yet.
 */
export class ExportWatch {
  constructor(
    private readonly ds: DataSource,
    private readonly events: ExportEvents,
  ) {}

  /** Reads of a row in flight, shared: a change wakes every subscription following it at once (up to 100 a socket). */
  private readonly loading = new Map<string, Promise<DataExportEntity | null>>();

  /** The row afresh; subscriptions asking for the same row at the same time share one statement (read-only). */
  private load(user: UserEntity, id: string): Promise<DataExportEntity | null> {
    const key = `${user.id}/${id}`;
    let read = this.loading.get(key);
    if (!read) {
      read = this.ds.getRepository(DataExportEntity).findOneBy({ id, userId: user.id });
      this.loading.set(key, read);
      const forget = () => this.loading.delete(key);
      read.then(forget, forget);
    }
    return read;
  }

  /** The removal's tombstone: the export's last state, and when it was removed. */
  private async tombstone(user: UserEntity, id: string): Promise<{ state: DataExportEntity; removedOn: number } | null> {
    const found = await this.ds.getRepository(ExportRemovalEntity).findOneBy({ exportId: id, userId: user.id });
    return found ? { state: JSON.parse(found.lastState) as DataExportEntity, removedOn: Number(found.removedOn) } : null;
  }

  /** The current state at once, then each change (throttled), then the terminal state or the removal, then the end. */
  async *follow(user: UserEntity, first: DataExportEntity, abort: AbortSignal): AsyncGenerator<ExportChange> {
    const signal = new Signal(abort);
    const stopWatching = this.events.watch((exportId) => exportId === first.id && signal.poke());
    try {
      let row = first;
      let sentAt = Date.now();
      yield { kind: 'changed', export: row };
      while (!TERMINAL_STATUSES.includes(row.status)) {
        await signal.wait(MAX_SILENCE_MS);
        await pause(MIN_GAP_MS - (Date.now() - sentAt), abort);
        if (abort.aborted) return;
        const next = await this.load(user, first.id);
        if (!next) {
          const tombstone = await this.tombstone(user, first.id);
          const last = tombstone?.state ?? row;
          // Its end came before the removal, and only the removal reached this process in time: the end is
          // what this subscription would have ended on, so it ends on it (the removal is a later story).
          const endedBefore = tombstone && last.updatedOn < tombstone.removedOn && TERMINAL_STATUSES.includes(last.status);
          yield endedBefore ? { kind: 'changed', export: last } : { kind: 'removed', export: last };
          return;
        }
        const silentTooLong = Date.now() - sentAt >= MAX_SILENCE_MS;
        if (next.updatedOn !== row.updatedOn || next.status !== row.status || silentTooLong) {
          row = next;
          sentAt = Date.now();
          yield { kind: 'changed', export: row };
        }
      }
    } finally {
      stopWatching();
    }
  }

  /** Every change to any of the user's exports, and every removal, also of exports not reported before. */
  async *followMine(user: UserEntity, abort: AbortSignal): AsyncGenerator<ExportChange> {
    const signal = new Signal(abort);
    const dirty = new Set<string>();
    const last = new Map<string, DataExportEntity>();
    const told = new Set<string>();
    const stopWatching = this.events.watch((exportId, userId) => {
      if (userId !== user.id) return;
      dirty.add(exportId);
      signal.poke();
    });
    try {
      while (!abort.aborted) {
        await signal.wait(60_000);
        const ids = [...dirty];
        dirty.clear();
        for (const id of ids) {
          if (abort.aborted) return;
          const row = await this.load(user, id);
          const before = last.get(id);
          if (!row) {
            // Told once, though the removal may be noticed twice (here and through the database).
            if (told.has(id)) continue;
            const tombstone = await this.tombstone(user, id);
            const removed = tombstone?.state ?? before;
            last.delete(id);
            if (!removed) continue;
            told.add(id);
            if (told.size > REMEMBERED) told.delete(told.values().next().value as string);
            // A state this subscriber followed into but was not told of (the export completed, and was removed
            // before the notice reached this process) is told first, so a followed export never skips its end.
            // A state the removal itself wrote (cancelling it) is the removal, told once.
            const missed = before && tombstone && removed.updatedOn < tombstone.removedOn && (before.updatedOn !== removed.updatedOn || before.status !== removed.status);
            if (missed) yield { kind: 'changed', export: removed };
            yield { kind: 'removed', export: removed };
            continue;
          }
          if (before && before.updatedOn === row.updatedOn && before.status === row.status) continue;
          last.set(id, row);
          if (last.size > REMEMBERED) last.delete(last.keys().next().value as string);
          yield { kind: 'changed', export: row };
        }
        await pause(MIN_GAP_MS, abort);
      }
    } finally {
      stopWatching();
    }
  }
}
