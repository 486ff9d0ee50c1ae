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

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
