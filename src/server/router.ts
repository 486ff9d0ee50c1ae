import { GatewayError, NO_ROUTE_MESSAGE } from '../errors/gateway-error.js';
import type { Mode } from '../request/context.js';
import type { Chain, RouteSpec } from '../request/types.js';
import { compose } from './compose.js';

export interface Route {
  readonly name: string;
  readonly mode: Mode;
  readonly quiet: boolean;
  readonly methods: ReadonlySet<string> | null;
  readonly chain: Chain;
}

/** Matches a request to a route; each route's chain is composed once, here. */
export class Router {
  readonly #exact = new Map<string, Route>();
  readonly #prefixes: Array<{ prefix: string; route: Route }> = [];

  add(spec: RouteSpec): this {
    const route: Route = {
      name: spec.name,
      mode: spec.mode,
      quiet: spec.quiet ?? false,
      methods: spec.methods ? new Set(spec.methods) : null,
      chain: compose(spec.middleware),
    };
    if (spec.prefix) this.#prefixes.push({ prefix: spec.path, route });
    else this.#exact.set(spec.path, route);
    return this;
  }

  /** The route for `path`, or a GatewayError (404, or 405 with `Allow`). */
  match(method: string, path: string): Route | GatewayError {
    let route = this.#exact.get(path);
    if (route === undefined) {
      for (const p of this.#prefixes) {
        if (path.startsWith(p.prefix)) {
          route = p.route;
          break;
        }
      }
    }
    if (route === undefined) return new GatewayError('not_found', NO_ROUTE_MESSAGE);
    if (route.methods !== null && !route.methods.has(method)) {
      return new GatewayError('method_not_allowed', `${method} is not allowed here`, { headers: { allow: [...route.methods].join(', ') } });
    }
    return route;
  }
}
