import { EventEmitter } from 'node:events';

/**
 * In-process signals about exports: "this export changed" (subscriptions, progress) and "something was
 * queued" (wakes the in-process worker at once instead of at its next poll).
 */
export class ExportEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  changed(exportId: string, userId: string): void {
    this.emitter.emit('changed', exportId, userId);
  }

  onChanged(listener: (exportId: string, userId: string) => void): () => void {
    this.emitter.on('changed', listener);
    return () => this.emitter.off('changed', listener);
  }

  queued(): void {
    this.emitter.emit('queued');
  }

  onQueued(listener: () => void): void {
    this.emitter.on('queued', listener);
  }
}
