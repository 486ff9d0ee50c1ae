import type { EndpointName } from '../providers/endpoint-names.js';
import type { KeyLimits } from '../store/access-types.js';

/** Scopes ready for the request path: sets and compiled patterns instead of lists (clientauth/scopes.ts compiles them). */
export interface CompiledScopes {
  instances: ReadonlySet<string> | null;
  models: { exact: ReadonlySet<string>; patterns: readonly RegExp[] } | null;
  /** The endpoints (chat, embeddings, ...) allowed; null: every endpoint. */
  endpoints: ReadonlySet<EndpointName> | null;
}

/**
 * Who is calling, once authenticated. Every client-auth kind (API key now; Basic, OIDC and
 * Kubernetes tokens later) produces one.
 */
export interface Principal {
  /** Stable identifier for logs and audit: the key id for API keys. */
  id: string;
  kind: 'api-key' | 'basic' | 'oidc' | 'kubernetes' | 'local';
  user: string | null;
  roles: readonly string[];
  scopes: CompiledScopes;
  limits: KeyLimits;
  keyId?: string;
}
