import { GraphQLError } from 'graphql';
import { logger } from '../logger';
import { takeTurn } from '../turns';

/** A socket holds at most this many subscriptions at once (SPEC §15): each one costs the server work until it ends. */
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 100;

/**
 * Refusal of a subscription past the cap, with words (the socket and its other subscriptions stay open).
 * One error for every refusal: a GraphQLError captures a stack trace when made, which thousands of
 * refusals in a burst would pay for each time.
 */
const TOO_MANY_SUBSCRIPTIONS = new GraphQLError(
  `this connection already holds ${MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions, the most one connection may hold: complete one first (myExportsUpdated follows all your exports at once)`,
  { extensions: { code: 'BAD_REQUEST' } },
);

export function tooManySubscriptions(): GraphQLError {
  return TOO_MANY_SUBSCRIPTIONS;
}

/** Whether these are the errors of a refusal past the cap (not logged one by one: a burst would flood the log). */
export function isCapRefusal(errors: readonly GraphQLError[]): boolean {
  return errors.length === 1 && errors[0] === TOO_MANY_SUBSCRIPTIONS;
}

/**
 * This socket's turn to have a subscribe message handled: one per event-loop iteration (src/turns.ts).
 * 5 000 subscribe messages on one socket were otherwise handled in one 590 ms stretch of the event loop
 * (profiled at load 3) while other users' requests waited.
 */
export function socketTurn(extra: object): Promise<void> {
  return takeTurn(extra);
}

/** The operations each socket holds, by graphql-ws id: counted in O(1), each one released once, whichever way it ends. */
const held = new WeakMap<object, Set<string>>();

/**
 * graphql-ws hooks that cap the operations a socket holds: one past the cap is refused before it is even
 * parsed, so a burst of thousands costs next to nothing (counting graphql-ws's own table would cost a
 * pass over every pending id for each new one).
 */
export const socketCap = {
  onSubscribe(ctx: { extra: object }, id: string): GraphQLError[] | undefined {
    let ids = held.get(ctx.extra);
    if (!ids) held.set(ctx.extra, (ids = new Set()));
    if (ids.size >= MAX_SUBSCRIPTIONS_PER_SOCKET) return [tooManySubscriptions()];
    ids.add(id);
    return undefined;
  },
  onComplete(ctx: { extra: object }, id: string): void {
    held.get(ctx.extra)?.delete(id);
  },
  onError(ctx: { extra: object }, id: string): undefined {
    held.get(ctx.extra)?.delete(id);
    return undefined;
  },
};

/**
 * The subscriptions of one socket, counted from start to their real end (listeners gone). When the
 * socket closes, one log line says how many were still running and how soon they all ended.
 */
export class SocketSubscriptions {
  private active = 0;
  private closedAt?: number;
  private atClose = 0;

  /** Registers one, or refuses it (null) when the socket holds the most it may; call the returned function once it has ended. */
  tryStart(): (() => void) | null {
    if (this.active >= MAX_SUBSCRIPTIONS_PER_SOCKET) return null;
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
