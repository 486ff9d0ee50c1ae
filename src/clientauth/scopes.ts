import { endpointNameProblem, isEndpointName, type EndpointName } from '../providers/endpoint-names.js';
import type { CompiledScopes } from '../request/principal.js';
import type { KeyScopes } from '../store/access-types.js';

/** Compiles once per key record; `*` in a model entry matches any run of characters. */
export function compileScopes(scopes: KeyScopes): CompiledScopes {
  return {
    instances: scopes.instances ? new Set(scopes.instances) : null,
    models: scopes.models
      ? {
          exact: new Set(scopes.models.filter((m) => !m.includes('*'))),
          patterns: scopes.models
            .filter((m) => m.includes('*'))
            .map((m) => new RegExp(`^${m.split('*').map(escapeRegExp).join('.*')}$`)),
        }
      : null,
    // A name this gateway does not know (a row written by a newer version) allows nothing.
    endpoints: scopes.endpoints ? new Set(scopes.endpoints.filter(isEndpointName)) : null,
  };
}

export function instanceAllowed(scopes: CompiledScopes, instance: string): boolean {
  return scopes.instances === null || scopes.instances.has(instance);
}

export function modelAllowed(scopes: CompiledScopes, model: string): boolean {
  const m = scopes.models;
  if (m === null) return true;
  return m.exact.has(model) || m.patterns.some((p) => p.test(model));
}

/** Why a key's or user's endpoint list cannot be stored (an unknown name), or undefined. */
export function endpointListProblem(endpoints: readonly string[] | null | undefined): string | undefined {
  for (const e of endpoints ?? []) {
    const problem = endpointNameProblem(e);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** True when the scopes allow `endpoint`; an unmapped request (undefined) only when they name no endpoints. */
export function endpointAllowed(scopes: CompiledScopes, endpoint: EndpointName | undefined): boolean {
  return scopes.endpoints === null || (endpoint !== undefined && scopes.endpoints.has(endpoint));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
