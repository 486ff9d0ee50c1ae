import { apiKeyAuthenticator } from './authenticator.js';
import { federatedClientAuth } from './federated.js';
import { localClientAuth } from './local.js';
import type { ClientAuth, ClientAuthDeps } from './types.js';

/**
 * Assembles layer 1 from config: passwords, TOTP and sessions (local.ts), OIDC, the AWS ALB
 * header and Kubernetes service-account tokens (federated.ts), and API keys, which come last
 * and also decide requests that present no credential at all.
 */
export async function buildClientAuth(deps: ClientAuthDeps): Promise<ClientAuth> {
  const parts = [await localClientAuth(deps), await federatedClientAuth(deps)];
  return {
    authenticators: [...parts.flatMap((p) => p.authenticators ?? []), apiKeyAuthenticator(deps.verifier)],
    after: parts.flatMap((p) => p.after ?? []),
    routes: parts.flatMap((p) => p.routes ?? []),
    async start() {
      for (const p of parts) await p.start?.();
    },
    async stop() {
      for (const p of parts) await p.stop?.();
    },
  };
}
