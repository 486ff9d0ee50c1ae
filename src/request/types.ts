import type { Mode, RequestContext } from './context.js';

export type Next = () => Promise<void>;
/**
 * A step of a route's chain. Factories validate their options once and return a named function.
 * A step with nothing left to do after the rest of the chain returns `next()` instead of awaiting
 * it: an awaiting step keeps its async frame (and its `next`) until the chain ends, which for a
 * stream is its whole life — about 500 bytes a step per held stream (bench/streams.ts).
 */
export type Middleware = (ctx: RequestContext, next: Next) => Promise<void>;
export type Chain = (ctx: RequestContext) => Promise<void>;

/** A route as its owner declares it; `server/router.ts` composes its chain once. */
export interface RouteSpec {
  /** For logs: `transparent`, `health`, ... */
  name: string;
  /** Exact path, or a prefix ending in `/` when `prefix` is set. */
  path: string;
  prefix?: boolean;
  /** Allowed methods; all when absent. */
  methods?: readonly string[];
  mode: Mode;
  /** Ops routes (probes, metrics) are logged at debug level only. */
  quiet?: boolean;
  middleware: readonly Middleware[];
}
