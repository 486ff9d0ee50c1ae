import type { Chain, Middleware } from '../request/types.js';

/**
 * Composes middleware into one function, once, at startup (the onion of Koa and Hono's
 * compose.ts). Calling `next()` twice is a bug and throws.
 */
export function compose(middleware: readonly Middleware[]): Chain {
  return function chain(ctx) {
    let index = -1;
    function dispatch(i: number): Promise<void> {
      if (i <= index) return Promise.reject(new Error('next() called more than once'));
      index = i;
      const fn = middleware[i];
      if (fn === undefined) return Promise.resolve();
      try {
        return fn(ctx, () => dispatch(i + 1));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return dispatch(0);
  };
}

/** Several steps as one middleware: runs `steps` in order, then the route's `next`. */
export function sequence(steps: readonly Middleware[]): Middleware {
  if (steps.length === 1) return steps[0]!;
  return function steps_(ctx, next) {
    return compose([...steps, () => next()])(ctx);
  };
}
