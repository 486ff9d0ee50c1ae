import type { UpstreamConfig } from '../upstream/config.js';
import { parseSecretRef } from '../secrets/ref.js';
import type { SecretResolver } from '../secrets/resolver.js';
import { Instance, type ConfiguredHeader } from './instance.js';
import { PROVIDERS_BY_TYPE, type InstanceConfig } from './registry.js';
import type { ProviderContext } from './types.js';

/** Thrown when the gateway cannot start (an unresolvable secret, an unusable store...). */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/** What an instance takes from outside its own block when it sets nothing itself. */
export interface InstanceDefaults {
  upstream: UpstreamConfig;
  server: { body_limit: number; stream_line_limit: number };
}

/** Builds one configured instance: the provider's parts plus endpoint, rules and timeouts. */
export async function buildInstance(name: string, cfg: InstanceConfig, config: InstanceDefaults, ctx: ProviderContext): Promise<Instance> {
  const provider = PROVIDERS_BY_TYPE.get(cfg.type);
  if (!provider) throw new StartupError(`instances.${name}.type: unknown provider "${cfg.type}"`);
  const parts = await provider.setup(name, cfg, ctx);
  const endpoint = ('endpoint' in cfg ? cfg.endpoint : undefined) ?? parts.endpoint ?? endpointFrom(provider.defaultEndpoint);
  if (!endpoint) throw new StartupError(`instances.${name}.endpoint: required for provider "${cfg.type}"`);
  return new Instance(
    {
      name,
      provider,
      endpoint,
      isDefault: cfg.default,
      extraRules: cfg.allow_paths,
      timeouts: {
        connectMs: cfg.timeouts.connect ?? config.upstream.connect_timeout,
        firstByteMs: cfg.timeouts.first_byte ?? config.upstream.first_byte_timeout,
        idleMs: cfg.timeouts.idle ?? config.upstream.idle_timeout,
      },
      bodyLimit: cfg.body_limit ?? config.server.body_limit,
      limits: cfg.limits,
      streamLineLimit: config.server.stream_line_limit,
      headers: configuredHeaders(cfg.headers, ctx.secrets),
    },
    parts,
  );
}

/** An instance's `headers` (validated by upstreamHeadersSchema): literals as they are, references through the resolver. */
function configuredHeaders(headers: Readonly<Record<string, string>>, secrets: SecretResolver): ConfiguredHeader[] {
  return Object.entries(headers).map(([name, text]): ConfiguredHeader => {
    const lower = name.toLowerCase();
    if (parseSecretRef(text) === undefined) return { name: lower, value: () => text };
    const handle = secrets.handle(text);
    return { name: lower, value: () => handle.value };
  });
}

function endpointFrom(url: string | undefined): { origin: string; basePath: string } | undefined {
  if (url === undefined) return undefined;
  const u = new URL(url);
  return { origin: u.origin, basePath: u.pathname.replace(/\/+$/, '') };
}

/** Fetches every endpoint-backed credential once, in parallel; returns the failures. */
export async function primeCredentials(instances: readonly Instance[]): Promise<Array<{ instance: string; method: string; error: string }>> {
  const results = await Promise.allSettled(instances.map((i) => i.credential.prime?.()));
  return results.flatMap((r, n) =>
    r.status === 'rejected'
      ? [{ instance: instances[n]!.name, method: instances[n]!.credential.state.method, error: instances[n]!.credential.state.lastError ?? String(r.reason) }]
      : [],
  );
}
