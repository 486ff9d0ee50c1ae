import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import { ApiKeyVerifier } from './clientauth/api-key/verifier.js';
import { clientAddressResolver } from './clientauth/client-address.js';
import { FailedAttemptThrottle } from './clientauth/throttle.js';
import type { LoadedConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { authenticate } from './middleware/authenticate.js';
import { authorizeInference, requirePermission } from './middleware/authorize.js';
import { readBody } from './middleware/body-limit.js';
import { AuditTrail } from './observability/audit-trail.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { SecretScrubber } from './observability/scrubber.js';
import { InstanceDirectory } from './providers/directory.js';
import { StartupError, buildInstance, primeCredentials } from './providers/build.js';
import type { Instance } from './providers/instance.js';
import type { ProviderContext } from './providers/types.js';
import { SecretResolver } from './secrets/resolver.js';
import { InflightTracker, createHandler } from './server/handler.js';
import { Listener } from './server/listener.js';
import { Router } from './server/router.js';
import { healthRoute, metricsRoute, readyRoute } from './server/routes/ops.js';
import { bedrockEnvelopeRoutes, bedrockRootRoute } from './server/routes/bedrock.js';
import { protocolChatRoutes } from './server/routes/protocol.js';
import { transparentRoute } from './server/routes/transparent.js';
import { openSqliteStore } from './store/sqlite/index.js';
import type { Store } from './store/types.js';

export interface AppOptions {
  loaded: LoadedConfig;
  /** Where JSON logs go; stdout by default. */
  logDestination?: DestinationStream;
  /** Overrides `server.host` / `server.port` (CLI flags, tests). */
  listen?: { host?: string; port?: number; tlsPort?: number; metricsPort?: number };
}

/** A gateway assembled from config, not yet listening. */
export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly store: Store;
  readonly instances: InstanceDirectory;
  readonly verifier: ApiKeyVerifier;
  readonly audit: AuditTrail;
  readonly secrets: SecretResolver;
  readonly scrubber: SecretScrubber;
  listen(): Promise<{ main: AddressInfo; tls?: AddressInfo; metrics?: AddressInfo }>;
  /** Graceful stop: refuse new connections, let requests and streams finish (up to the timeout), flush, close. */
  close(): Promise<void>;
}

export { StartupError };

/**
 * The composition root: config → logger and metrics → store → secrets → instances → client
 * auth → routes → listeners. It wires; it holds no request logic.
 */
export async function createApp(options: AppOptions): Promise<App> {
  const { config, baseDir } = options.loaded;
  const scrubber = new SecretScrubber();
  const logger = createLogger({ level: config.logging.level, scrubber, ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const metrics = new Metrics();
  const store = openSqliteStore(resolve(baseDir, config.storage.sqlite.path));
  const secrets = new SecretResolver({ baseDir, defaultIntervalMs: config.secrets.refresh_interval, scrubber, logger, metrics });

  const instanceList: Instance[] = [];
  try {
    const ctx: ProviderContext = { secrets, logger, metrics, scrubber, baseDir };
    for (const [name, cfg] of Object.entries(config.instances)) instanceList.push(await buildInstance(name, cfg, config, ctx));
    const failures = await secrets.resolveAll();
    if (failures.length > 0) {
      throw new StartupError(`cannot resolve secret references:\n  ${failures.map((f) => `${f.ref}: ${f.error}`).join('\n  ')}`);
    }
    const unobtainable = await primeCredentials(instanceList);
    if (unobtainable.length > 0) {
      throw new StartupError(`cannot obtain provider credentials:\n  ${unobtainable.map((f) => `instances.${f.instance} (${f.method}): ${f.error}`).join('\n  ')}`);
    }
  } catch (err) {
    await Promise.all(instanceList.map((i) => i.close()));
    await store.close();
    throw err;
  }
  const instances = new InstanceDirectory(instanceList);
  for (const i of instanceList) {
    if (i.credential.prime) continue; // counts its own fetches
    metrics.credentialRefresh.inc({ provider: i.type, method: i.credential.state.method, status: i.credential.state.status === 'ok' ? 'success' : 'failure' });
  }
  metrics.trackCredentials(() => instances.all.map((i) => ({ instance: i.name, lastRefreshAt: i.credential.state.lastRefreshAt, expiresAt: i.credential.state.expiresAt })));

  const verifier = new ApiKeyVerifier(store.keys, { cacheTtlMs: config.auth.api_keys.cache_ttl, pollMs: config.auth.api_keys.revocation_poll, logger });
  const throttle = new FailedAttemptThrottle(config.auth.failed_attempts.limit, config.auth.failed_attempts.window);
  const audit = new AuditTrail(store.audit, logger, { retentionMs: config.audit.retention });
  const tracker = new InflightTracker();
  metrics.trackInflight(() => tracker.count);

  const auth = authenticate({ verifier, throttle, audit, metrics });
  const metricsGuard = config.server.metrics.require_auth ? [auth, requirePermission('metrics:read', audit)] : [];
  const inference = { instances, audit, authenticate: auth, readBody: readBody(config.server.body_limit), authorize: authorizeInference(audit) };
  const router = new Router()
    .add(healthRoute())
    .add(readyRoute({ store, instances, isDraining: () => tracker.draining }))
    .add(transparentRoute(inference))
    .add(bedrockRootRoute(inference));
  for (const route of bedrockEnvelopeRoutes(inference)) router.add(route);
  for (const route of protocolChatRoutes({ ...inference, aliases: config.model_aliases })) router.add(route);
  const separateMetrics = config.server.metrics.port !== undefined || options.listen?.metricsPort !== undefined;
  if (!separateMetrics) router.add(metricsRoute(metrics, metricsGuard));

  const clientAddress = clientAddressResolver(config.server.trusted_proxies);
  const handler = createHandler({ router, logger, metrics, clientAddress, tracker });
  const host = options.listen?.host ?? config.server.host;
  const keepAliveTimeoutMs = config.server.keep_alive_timeout;
  const listeners: Array<{ kind: 'main' | 'tls' | 'metrics'; listener: Listener }> = [
    { kind: 'main', listener: new Listener(handler, { host, port: options.listen?.port ?? config.server.port, keepAliveTimeoutMs }) },
  ];
  const tls = config.server.tls;
  if (tls) {
    listeners.push({
      kind: 'tls',
      listener: new Listener(handler, {
        host,
        port: options.listen?.tlsPort ?? tls.port,
        keepAliveTimeoutMs,
        tls: { certFile: resolve(baseDir, tls.cert_file), keyFile: resolve(baseDir, tls.key_file) },
      }),
    });
  }
  if (separateMetrics) {
    const metricsRouter = new Router().add(healthRoute()).add(metricsRoute(metrics, metricsGuard));
    const metricsHandler = createHandler({ router: metricsRouter, logger, metrics, clientAddress, tracker: new InflightTracker() });
    listeners.push({
      kind: 'metrics',
      listener: new Listener(metricsHandler, { host, port: options.listen?.metricsPort ?? config.server.metrics.port!, keepAliveTimeoutMs }),
    });
  }

  let closing: Promise<void> | undefined;
  return {
    config,
    logger,
    metrics,
    store,
    instances,
    verifier,
    audit,
    secrets,
    scrubber,
    async listen() {
      await verifier.start();
      audit.start();
      secrets.start();
      const out: { main: AddressInfo; tls?: AddressInfo; metrics?: AddressInfo } = { main: undefined as unknown as AddressInfo };
      for (const { kind, listener } of listeners) out[kind] = await listener.listen();
      return out;
    },
    close() {
      closing ??= (async () => {
        for (const { listener } of listeners) void listener.stopAccepting();
        const timeout = config.server.shutdown_timeout;
        const drained = await Promise.race([
          tracker.drain().then(() => true),
          new Promise<false>((r) => setTimeout(() => r(false), timeout).unref()),
        ]);
        if (!drained) logger.warn({ inflight: tracker.count }, 'shutdown timeout reached; closing the remaining connections');
        for (const { listener } of listeners) listener.destroyAll();
        secrets.stop();
        await verifier.stop();
        await audit.stop();
        await instances.close();
        await store.close();
        logger.info('gateway stopped');
        logger.flush();
      })();
      return closing;
    },
  };
}
