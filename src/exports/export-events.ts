import { EventEmitter } from 'node:events';

type ChangedListener = (exportId: string, userId: string, remote: boolean) => void;

/**
 * In-process signals about exports: "this export changed" (subscriptions, progress) and "something was
 * queued" (wakes the in-process worker at once instead of at its next poll). `remote` marks a change
 * that arrived from another process, so it is not sent back out.
 */
export class ExportEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private watchers = 0;

  changed(exportId: string, userId: string, remote = false): void {
    this.emitter.emit('changed', exportId, userId, remote);
  }

  onChanged(listener: ChangedListener): () => void {
    this.emitter.on('changed', listener);
    return () => this.emitter.off('changed', listener);
  }

  /** Subscriptions register here, so that polling for other processes' changes runs only while someone listens. */
  watch(listener: ChangedListener): () => void {
    this.watchers++;
    const off = this.onChanged(listener);
    return () => {
      this.watchers--;
      off();
    };
  }

  hasWatchers(): boolean {
    return this.watchers > 0;
  }

  queued(): void {
    this.emitter.emit('queued');
  }

  onQueued(listener: () => void): void {
    this.emitter.on('queued', listener);
  }
}
