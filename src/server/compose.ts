import type { Chain, Middleware } from '../request/types.js';

/** A middleware made of several steps by `sequence`; `compose` splices the steps in. */
interface Sequence extends Middleware {
  readonly steps: readonly Middleware[];
}

/**
 * Composes middleware into one function, once, at startup (the onion of Koa and Hono's
 * compose.ts). Steps of a `sequence` are spliced in, so a request runs one flat chain. Calling
 * `next()` twice is a bug and throws.
 */
export function compose(middleware: readonly Middleware[]): Chain {
  const steps = flatten(middleware);
  return function chain(ctx) {
    let index = -1;
    function dispatch(i: number): Promise<void> {
      if (i <= index) return Promise.reject(new Error('next() called more than once'));
      index = i;
      const fn = steps[i];
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

/**
 * Several steps as one middleware: runs `steps` in order, then the route's `next`. Composed into
 * a route, its steps join the route's own chain (no chain per request); called on its own, it
 * composes them then.
 */
export function sequence(steps: readonly Middleware[]): Middleware {
  if (steps.length === 1) return steps[0]!;
  const flat = flatten(steps);
  const run: Middleware = function steps_(ctx, next) {
    return compose([...flat, () => next()])(ctx);
  };
  return Object.assign(run, { steps: flat });
}

function flatten(middleware: readonly Middleware[]): Middleware[] {
  return middleware.flatMap((m) => ((m as Partial<Sequence>).steps ?? [m]) as Middleware[]);
}
