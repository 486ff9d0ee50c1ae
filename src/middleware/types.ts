import type { RequestContext } from './context.js';

export type Next = () => Promise<void>;
/** A step of a route's chain. Factories validate their options once and return a named function. */
export type Middleware = (ctx: RequestContext, next: Next) => Promise<void>;
export type Chain = (ctx: RequestContext) => Promise<void>;
