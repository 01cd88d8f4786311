/**
 * Turns at the event loop: each caller of `take(key)` with the same key resumes in an iteration of the
 * event loop of its own, after the callers before it. Requests that arrive together are otherwise handed
 * over in one go (ws gives every frame of a chunk at once; Node every HTTP body ready in one poll), and
 * their synchronous work runs back to back while another user's request, ready meanwhile, waits for all
 * of it. With turns, I/O is polled between each one.
 */
const tails = new WeakMap<object, Promise<void>>();

export function takeTurn(key: object): Promise<void> {
  const turn = (tails.get(key) ?? Promise.resolve()).then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  tails.set(key, turn);
  return turn;
}
