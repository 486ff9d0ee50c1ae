import type { ClientAuthParts, ExchangeParts } from './kind.js';
import { LocalIdentity } from './local-identity.js';
import { noAuthAuthenticator } from './no-auth.js';
import { CLIENT_AUTH_KINDS } from './registry.js';
import type { ClientAuth, ClientAuthDeps } from './types.js';

/**
 * Assembles layer 1 from config: every kind in CLIENT_AUTH_KINDS, set up in registry order
 * (which is the order their authenticators are asked). Routes are made once every kind is set
 * up, so a kind that exchanges credentials (sessions) sees every kind's offer.
 */
export async function buildClientAuth(deps: ClientAuthDeps): Promise<ClientAuth> {
  let identity: LocalIdentity | undefined;
  // The identity store's poll interval is configured as `auth.basic.change_poll`.
  const ctx = { ...deps, local: () => (identity ??= new LocalIdentity(deps, deps.config.auth.basic.change_poll)) };
  const parts: ClientAuthParts[] = [];
  for (const kind of CLIENT_AUTH_KINDS) parts.push(await kind.setup(ctx));
  const exchange: ExchangeParts = {
    authenticators: parts.flatMap((p) => p.exchange?.authenticators ?? []),
    steps: parts.flatMap((p) => p.exchange?.steps ?? []),
  };
  // `auth.mode: none`: one authenticator that lets everyone in as the local developer, and no
  // second factor to ask of them; the kinds stay set up for the console and the admin API's stores.
  const none = deps.config.auth.mode === 'none';
  return {
    authenticators: none ? [noAuthAuthenticator()] : parts.flatMap((p) => p.authenticators ?? []),
    after: none ? [] : parts.flatMap((p) => p.after ?? []),
    routes: parts.flatMap((p) => p.routes?.(exchange) ?? []),
    sessions: parts.find((p) => p.sessions)!.sessions!,
    totpBox: parts.find((p) => p.totpBox !== undefined)?.totpBox,
    async start() {
      await identity?.watch.start();
      for (const p of parts) await p.start?.();
    },
    async stop() {
      for (const p of parts) await p.stop?.();
      await identity?.watch.stop();
    },
  };
}
