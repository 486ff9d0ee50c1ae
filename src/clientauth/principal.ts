import type { KeyLimits } from '../store/types.js';
import { compileScopes, type CompiledScopes } from './scopes.js';

/**
 * Who is calling, once authenticated. Every client-auth kind (API key now; Basic, OIDC and
 * Kubernetes tokens later) produces one.
 */
export interface Principal {
  /** Stable identifier for logs and audit: the key id for API keys. */
  id: string;
  kind: 'api-key' | 'basic' | 'oidc' | 'kubernetes';
  user: string | null;
  roles: readonly string[];
  scopes: CompiledScopes;
  limits: KeyLimits;
  keyId?: string;
}

export { compileScopes };
