import { GraphQLError } from 'graphql';
import { logger } from '../logger';

/** A socket holds at most this many operations at once (SPEC §15): each subscription costs the server work. */
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 100;

/** graphql-ws onSubscribe hook: refuses the operation past the cap, with words (the socket stays open). */
export function tooManySubscriptions(ctx: { subscriptions: Record<string, unknown> }): GraphQLError[] | undefined {
  // graphql-ws has already registered this one.
  if (Object.keys(ctx.subscriptions).length <= MAX_SUBSCRIPTIONS_PER_SOCKET) return undefined;
  return [
    new GraphQLError(
      `this connection already holds ${MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions, the most one connection may hold: complete one first (myExportsUpdated follows all your exports at once)`,
      { extensions: { code: 'BAD_REQUEST' } },
    ),
  ];
}

/**
 * The subscriptions of one socket, counted from start to their real end (listeners gone). When the
 * socket closes, one log line says how many were still running and how soon they all ended.
 */
export class SocketSubscriptions {
  private active = 0;
  private closedAt?: number;
  private atClose = 0;

  /** Registers one; the returned function is called once it has ended. */
  started(): () => void {
    this.active++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.active--;
      if (this.closedAt !== undefined && this.active === 0 && this.atClose > 0) {
        logger.info({ subscriptions: this.atClose, endedAfterCloseMs: Date.now() - this.closedAt }, 'socket closed; its subscriptions ended');
      }
    };
  }

  closed(): void {
    this.closedAt = Date.now();
    this.atClose = this.active;
  }
}
