import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import { AnomalyDetector } from './alerts/anomaly.js';
import { AlertWebhook } from './alerts/webhook.js';
import { agePolicyOf, countKeysByAge } from './clientauth/api-key/policy.js';
import { ApiKeyVerifier } from './clientauth/api-key/verifier.js';
import { isLoopbackHost } from './clientauth/no-auth.js';
import { addressForRecords, canonicalAddress, clientAddressResolver, trustedProxy } from './clientauth/client-address.js';
import { FailedAttemptThrottle } from './clientauth/throttle.js';
import { loadConfig, type LoadedConfig } from './config/load.js';
import { configChange } from './config/reload.js';
import type { Config } from './config/schema.js';
import { authenticate } from './clientauth/authenticate.js';
import { authorizeInference, requirePermission } from './clientauth/authorize.js';
import { buildClientAuth } from './clientauth/build.js';
import { RoleTable } from './clientauth/rbac.js';
import { buildGovernance } from './governance/index.js';
import { sequence } from './server/compose.js';
import { adminRoutes } from './server/routes/admin.js';
import { buildConsole } from './console/routes.js';
import { instanceBodyLimit, readBody } from './middleware/body-limit.js';
import { AuditTrail } from './store/audit-trail.js';
import { RetentionJob } from './store/retention.js';
import { pseudonymiser } from './store/pseudonym.js';
import { readSecretOnce } from './secrets/read-once.js';
import { systemEvent } from './store/system-event.js';
import type { CredentialHealthListener } from './credentials/kind.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { SecretScrubber } from './observability/scrubber.js';
import { modelCatalog } from './providers/catalog.js';
import { InstanceDirectory } from './providers/directory.js';
import { PROVIDERS_BY_TYPE } from './providers/registry.js';
import { StartupError, buildInstance, primeCredentials } from './providers/build.js';
import { ProviderProbes } from './providers/probe.js';
import type { Instance } from './providers/instance.js';
import { SecretResolver } from './secrets/resolver.js';
import { InflightTracker, createHandler } from './server/handler.js';
import { Listener } from './server/listener.js';
import { Router } from './server/router.js';
import { healthRoute, metricsRoute, readyRoute } from './server/routes/ops.js';
import { providerRoutes } from './server/routes/provider-routes.js';
import { checkDefaultProvider, defaultProviderFromEnv, defaultProviderProblem } from './server/routes/default-provider.js';
import { protocolChatRoutes } from './server/routes/protocol.js';
import { transparentRoute } from './server/routes/transparent.js';
import { announceChanges } from './store/announce.js';
import { openCounterStore, openStore } from './store/open.js';
import { journalRoot, openStoreJournal, type StoreJournal } from './store/store-journal.js';
import { RedisFleetEvents } from './store/redis/events.js';
import { StoredResponses } from './store/stored-responses.js';
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
  /** Stored Responses API responses (`responses` section). */
  readonly responses: StoredResponses;
  /** The running generation's resolver (a reload replaces it). */
  readonly secrets: SecretResolver;
  /** Usage anomaly alerts (`alerts.anomaly`), when enabled. */
  readonly anomalies: AnomalyDetector | undefined;
  readonly scrubber: SecretScrubber;
  listen(): Promise<{ main: AddressInfo; tls?: AddressInfo; metrics?: AddressInfo }>;
  /**
   * Applies `next` (default: the config file re-read) to new requests: instances and secrets are
   * built and checked as at startup, then swapped in; the replaced instances close once the
   * requests that began before the swap have ended. A file that fails any check changes
   * nothing. Sections that need a restart keep their running values (logged). One at a time.
   */
  reload(next?: LoadedConfig, trigger?: ReloadTrigger): Promise<ReloadResult>;
  /** Purges audit events and usage rows past their retention (daily; tests and operators may run it now). */
  readonly retention: RetentionJob;
  /**
   * Graceful stop: refuse new connections, let requests and streams finish (up to the timeout),
   * flush, close. `drained` is false when the timeout cut requests still running.
   */
  close(): Promise<{ drained: boolean }>;
}

/** Who asked for a reload, for its audit event (`config.reload`): the SIGHUP handler, an admin, or the embedding code. */
export interface ReloadTrigger {
  by: 'SIGHUP' | 'admin' | 'api';
  actor?: string;
  keyId?: string;
  requestId?: string;
  clientAddress?: string;
}

export type ReloadResult =
  | { ok: true; added: string[]; removed: string[]; changed: string[]; aliasesChanged: boolean; restartRequired: string[] }
  | { ok: false; error: string };

export { StartupError };

/** Secrets and instances of one config generation, each secret read and credential obtained. */
async function buildGeneration(
  config: Config,
  baseDir: string,
  deps: { scrubber: SecretScrubber; logger: Logger; metrics: Metrics; onCredentialHealth: CredentialHealthListener },
): Promise<{ secrets: SecretResolver; instances: Instance[] }> {
  const { onCredentialHealth: _, ...secretDeps } = deps;
  const secrets = new SecretResolver({ baseDir, defaultIntervalMs: config.secrets.refresh_interval, ...secretDeps });
  const instances: Instance[] = [];
  try {
    for (const [name, cfg] of Object.entries(config.instances)) instances.push(await buildInstance(name, cfg, config, { secrets, baseDir, ...deps }));
    const failures = await secrets.resolveAll();
    if (failures.length > 0) {
      throw new StartupError(`cannot resolve secret references:\n  ${failures.map((f) => `${f.ref}: ${f.error}`).join('\n  ')}`);
    }
    const unobtainable = await primeCredentials(instances);
    if (unobtainable.length > 0) {
      throw new StartupError(`cannot obtain provider credentials:\n  ${unobtainable.map((f) => `instances.${f.instance} (${f.method}): ${f.error}`).join('\n  ')}`);
    }
  } catch (err) {
    await Promise.all(instances.map((i) => i.close()));
    await secrets.close();
    throw err;
  }
  for (const i of instances) {
    if (i.credential.prime) continue; // counts its own fetches
    deps.metrics.credentialRefresh.inc({ provider: i.type, method: i.credential.state.method, status: i.credential.state.status === 'ok' ? 'success' : 'failure' });
  }
  return { secrets, instances };
}

/**
 * The composition root: config → logger and metrics → store → secrets → instances → client
 * auth → routes → listeners. It wires; it holds no request logic.
 */
export async function createApp(options: AppOptions): Promise<App> {
  const { baseDir } = options.loaded;
  let config = options.loaded.config;
  const scrubber = new SecretScrubber();
  const logger = createLogger({ level: config.logging.level, scrubber, ...(options.logDestination ? { destination: options.logDestination } : {}) });
  if (config.auth.mode === 'none') {
    // Every listener (main, TLS, metrics) binds this one host.
    const listenHost = options.listen?.host ?? config.server.host;
    if (!isLoopbackHost(listenHost)) {
      throw new StartupError(`auth.mode: none (AUTH_ENABLED=false) lets every caller in as an admin, so it is for local development only: the gateway must listen on a loopback address (127.0.0.1 or ::1), not "${listenHost}"`);
    }
    logger.warn({ auth_mode: 'none', host: listenHost }, 'AUTHENTICATION IS OFF (auth.mode: none): every request is served as the local admin "local-dev"; for local development only, never deploy this');
  }
  const metrics = new Metrics();
  const ownStore = await openStore(config, baseDir, { scrubber, logger });
  const counters = await openCounterStore(config, baseDir, { scrubber, logger, onHealth: (up) => metrics.counterStoreHealth(up) }).catch(async (err: unknown) => {
    await ownStore.close();
    throw err;
  });
  // With Redis, changes to keys, users and the lockdown reach every replica at once (and this one announces its own).
  const events = counters && (await RedisFleetEvents.open(counters, logger));
  const store = events ? announceChanges(ownStore, (event) => events.publish(event)) : ownStore;
  // The audit trail is made once the journal is open (below); credentials only change health after their first fetch.
  let auditTrail: AuditTrail | undefined;
  const onCredentialHealth: CredentialHealthListener = ({ instance, provider, method, ok, error }) =>
    auditTrail?.record(
      systemEvent({
        event: 'credential',
        result: ok ? 'success' : 'failure',
        reason: ok ? 'recovered' : 'fetch_failed',
        severity: ok ? 'info' : 'warning',
        method,
        instance,
        detail: { provider, method, ...(error !== undefined ? { error: scrubber.scrub(error) } : {}) },
      }),
    );
  const generation = await buildGeneration(config, baseDir, { scrubber, logger, metrics, onCredentialHealth }).catch(async (err: unknown) => {
    await events?.close();
    await counters?.close();
    await store.close();
    throw err;
  });
  let secrets = generation.secrets;
  const defaultInstance = defaultProviderFromEnv();
  try {
    checkDefaultProvider(defaultInstance, generation.instances);
  } catch (err) {
    await Promise.all(generation.instances.map((i) => i.close()));
    await generation.secrets.close();
    await events?.close();
    await counters?.close();
    await store.close();
    throw err;
  }
  metrics.trackSecretLeases(() => secrets.leases.map((l) => ({ reference: l.label, expiresAt: l.expiresAt })));
  const instances = new InstanceDirectory(generation.instances);
  const aliases = { current: config.model_aliases };
  metrics.trackCredentials(() => instances.all.map((i) => ({ instance: i.name, lastRefreshAt: i.credential.state.lastRefreshAt, expiresAt: i.credential.state.expiresAt })));

  const verifier = new ApiKeyVerifier(store.keys, {
    cacheTtlMs: config.auth.api_keys.cache_ttl,
    pollMs: config.auth.api_keys.revocation_poll,
    agePolicy: agePolicyOf(config.auth.api_keys),
    logger,
    ...(events ? { watch: events } : {}),
  });
  const throttle = FailedAttemptThrottle.fromConfig(config.auth.failed_attempts);
  const tracker = new InflightTracker();
  metrics.trackInflight(() => tracker.count);
  metrics.trackStore(() => store.isUp?.() ?? true);
  metrics.trackKeyAges(() => countKeysByAge(store.keys));

  const roles = RoleTable.fromConfig(config.rbac.roles, config.rbac.assignments);
  let journal: StoreJournal | undefined;
  const failStartup = async (err: unknown): Promise<never> => {
    await journal?.close();
    await instances.close();
    await events?.close();
    await counters?.close();
    await store.close();
    throw err;
  };
  // Usage rows and audit events a killed process left in the journal reach the store before this one serves.
  const journalDir = journalRoot(config, baseDir);
  journal = journalDir === undefined ? undefined : await openStoreJournal(store, { root: journalDir, logger, metrics }).catch(failStartup);
  const recordAddress = addressForRecords(config.privacy.ip);
  const audit = new AuditTrail(store.audit, logger, { flushIntervalMs: config.audit.flush_interval, scrub: (text) => scrubber.scrub(text), metrics, journal: journal?.audit, address: recordAddress });
  auditTrail = audit;
  const { privacy } = config;
  const pseudonymKey = privacy.pseudonymise ? await readSecretOnce('privacy.pseudonymise_key', privacy.pseudonymise_key!, baseDir).catch(failStartup) : undefined;
  if (pseudonymKey !== undefined) scrubber.add(pseudonymKey);
  const pseudonym = pseudonymKey === undefined ? undefined : pseudonymiser(pseudonymKey);
  const retention = new RetentionJob(store, { auditMs: config.audit.retention, usageMs: config.usage.retention, logger, metrics });
  const clientAuth = await buildClientAuth({ config, baseDir, store, verifier, roles, throttle, audit, logger, metrics, scrubber, ...(events ? { announcements: events } : {}) }).catch(failStartup);
  const governance = await buildGovernance({ config, models: modelCatalog(PROVIDERS_BY_TYPE.values()), store, instances, audit, logger, metrics, counters, usageJournal: journal?.usage, ...(counters ? { budgetCounters: counters } : {}) }).catch(failStartup);
  const { alerts } = config;
  const webhook =
    alerts.webhook_url === undefined
      ? undefined
      : await AlertWebhook.open({
          reference: alerts.webhook_url,
          baseDir,
          timeoutMs: alerts.webhook_timeout,
          attempts: alerts.webhook_attempts,
          retryDelayMs: alerts.webhook_retry_delay,
          logger,
          metrics,
          scrubber,
        }).catch((err: unknown) => failStartup(new StartupError(err instanceof Error ? err.message : String(err), { cause: err })));
  const anomalies = alerts.anomaly.enabled
    ? new AnomalyDetector({ config: alerts.anomaly, usage: store.governance.usage, settings: store.governance.settings, audit: (e) => audit.record(e), logger, metrics, webhook })
    : undefined;
  events?.on((event) => {
    if (event.kind === 'lockdown') void governance.lockdown.refresh();
    else if (event.kind === 'key') {
      verifier.invalidate(event.id);
      void verifier.poll();
    }
  });
  const auth = sequence([authenticate({ authenticators: clientAuth.authenticators, throttle, audit, metrics }), ...clientAuth.after]);
  const adminConsole = config.server.console.enabled
    ? buildConsole({
        config: config.server.console,
        oidc: config.auth.oidc,
        signInWith: { apiKey: config.auth.api_keys.enabled, basic: config.auth.basic.enabled },
        authenticators: clientAuth.authenticators,
        after: clientAuth.after,
        sessions: clientAuth.sessions,
        sessionStore: store.identity.sessions,
        roles,
        throttle,
        audit,
        metrics,
        logger,
        scrubber,
        baseDir,
        trustedProxy: trustedProxy(config.server.trusted_proxies),
        requestTimeoutMs: config.server.request_timeout,
      })
    : undefined;
  // The admin API also accepts the console's session cookie (with its CSRF token for changes).
  const adminAuth = adminConsole
    ? sequence([authenticate({ authenticators: [adminConsole.authenticator, ...clientAuth.authenticators], throttle, audit, metrics }), ...clientAuth.after])
    : auth;
  const metricsGuard = config.server.metrics.require_auth ? [auth, requirePermission('metrics:read', audit, roles)] : [];
  const inference = {
    instances,
    scrubber,
    audit,
    roles,
    jsonDepthLimit: config.server.json_depth_limit,
    authenticate: sequence([...governance.before, auth]),
    readBody: readBody({
      serverLimit: config.server.body_limit,
      largest: () => instances.all.reduce((max, i) => Math.max(max, i.bodyLimit ?? 0), config.server.body_limit),
      requestTimeoutMs: config.server.request_timeout,
    }),
    authorize: sequence([instanceBodyLimit(config.server.body_limit), authorizeInference(audit, roles), ...governance.after]),
  };
  const responses = StoredResponses.fromConfig(store.responses, config.responses, logger);
  const probes = config.readiness.probe_providers
    ? new ProviderProbes({ instances: () => instances.all, intervalMs: config.readiness.probe_interval, logger, scrubber })
    : undefined;
  const router = new Router()
    .add(healthRoute())
    .add(readyRoute({ store, counters, instances, isDraining: () => tracker.draining, probes }))
    .add(transparentRoute(inference));
  for (const route of providerRoutes(PROVIDERS_BY_TYPE.values(), inference)) router.add(route);
  for (const route of protocolChatRoutes({ ...inference, aliases, logger, responses, defaultInstance })) router.add(route);
  for (const route of clientAuth.routes) router.add(route);
  // The admin API's reload answers with the refusal; its text names paths and references, and is scrubbed all the same.
  const adminReload = async (trigger: ReloadTrigger): Promise<ReloadResult> => {
    const r = await reloadConfig(undefined, trigger);
    return r.ok ? r : { ok: false, error: scrubber.scrub(r.error) };
  };
  const adminDeps = { requestTimeoutMs: config.server.request_timeout, store, instances, secrets: () => secrets, audit, roles, authenticate: adminAuth, verifier, totpBox: clientAuth.totpBox, governance, pseudonym, reload: adminReload, logger, metrics };
  for (const route of adminRoutes(adminDeps)) router.add(route);
  for (const route of adminConsole?.routes ?? []) router.add(route);
  const separateMetrics = config.server.metrics.port !== undefined || options.listen?.metricsPort !== undefined;
  if (!separateMetrics) router.add(metricsRoute(metrics, metricsGuard));

  const clientAddress = clientAddressResolver(config.server.trusted_proxies);
  const handler = createHandler({ router, logger, metrics, clientAddress, recordAddress, tracker, scrubber, onFinish: governance.onFinish });
  const host = options.listen?.host ?? config.server.host;
  const { server } = config;
  const connection = {
    timeouts: { headersMs: server.headers_timeout, requestMs: server.request_timeout, keepAliveMs: server.keep_alive_timeout },
    limits: { max: server.max_connections, perClient: server.max_connections_per_client, exempt: trustedProxy(server.trusted_proxies), canonical: canonicalAddress },
    onRefused: (reason: string) => metrics.connectionsRefused.inc({ reason }),
  };
  const listeners: Array<{ kind: 'main' | 'tls' | 'metrics'; listener: Listener }> = [
    { kind: 'main', listener: new Listener(handler, { host, port: options.listen?.port ?? server.port, ...connection }) },
  ];
  const tls = server.tls;
  if (tls) {
    listeners.push({
      kind: 'tls',
      listener: new Listener(handler, {
        host,
        port: options.listen?.tlsPort ?? tls.port,
        ...connection,
        tls: { certFile: resolve(baseDir, tls.cert_file), keyFile: resolve(baseDir, tls.key_file) },
      }),
    });
  }
  if (separateMetrics) {
    const metricsRouter = new Router().add(healthRoute()).add(metricsRoute(metrics, metricsGuard));
    const metricsHandler = createHandler({ router: metricsRouter, logger, metrics, clientAddress, recordAddress, scrubber, tracker: new InflightTracker() });
    listeners.push({
      kind: 'metrics',
      listener: new Listener(metricsHandler, { host, port: options.listen?.metricsPort ?? server.metrics.port!, ...connection }),
    });
  }

  let closing: Promise<{ drained: boolean }> | undefined;
  let started = false;
  let reloads: Promise<unknown> = Promise.resolve();
  /** Closes instances a reload replaced; each runs once, after their requests or at shutdown. */
  const retiring = new Set<() => Promise<void>>();

  /** One reload at a time, in the order asked. */
  function reloadConfig(next: LoadedConfig | undefined, trigger: ReloadTrigger): Promise<ReloadResult> {
    const result = reloads.then(() => applyReload(next, trigger));
    reloads = result.catch(() => undefined);
    return result;
  }

  async function applyReload(next: LoadedConfig | undefined, trigger: ReloadTrigger): Promise<ReloadResult> {
    const source = next?.source ?? options.loaded.source;
    const auditReload = (result: 'success' | 'failure', detail: Record<string, unknown>) =>
      audit.record(
        systemEvent({
          event: 'config.reload',
          result,
          reason: result === 'success' ? 'applied' : 'rejected',
          method: trigger.by,
          user: trigger.actor ?? null,
          keyId: trigger.keyId ?? null,
          ...(trigger.requestId !== undefined ? { requestId: trigger.requestId } : {}),
          ...(trigger.clientAddress !== undefined ? { clientAddress: trigger.clientAddress } : {}),
          // Instance and section names only: values (endpoints, secret references) never reach the trail.
          detail: { trigger: trigger.by, ...detail },
        }),
      );
    const reject = (error: string): ReloadResult => {
      metrics.configReloads.inc({ result: 'failure' });
      logger.error({ config: source, error }, 'configuration reload rejected; the running configuration stays');
      auditReload('failure', {});
      return { ok: false, error };
    };
    if (closing) return reject('the gateway is shutting down');
    if (next === undefined && source === 'built-in demo') return reject('the gateway runs the built-in demo config; there is no file to re-read');
    let built: Awaited<ReturnType<typeof buildGeneration>>;
    let change: ReturnType<typeof configChange>;
    try {
      const loaded = next ?? loadConfig(source);
      change = configChange(config, loaded.config);
      built = await buildGeneration(change.effective, loaded.baseDir, { scrubber, logger, metrics, onCredentialHealth });
    } catch (err) {
      return reject(err instanceof Error ? err.message : String(err));
    }
    const defaultProblem = defaultInstance === undefined ? undefined : defaultProviderProblem(defaultInstance, built.instances);
    if (closing || defaultProblem !== undefined) {
      await Promise.all(built.instances.map((i) => i.close()));
      await built.secrets.close();
      return reject(defaultProblem ?? 'the gateway is shutting down');
    }
    // The swap: synchronous, so a request sees either the old or the new instances and aliases.
    const replaced = instances.replace(built.instances);
    aliases.current = change.effective.model_aliases;
    config = change.effective;
    const replacedSecrets = secrets;
    replacedSecrets.stop();
    secrets = built.secrets;
    if (started) secrets.start();
    let closeReplaced: (() => Promise<void>) | undefined = async () => {
      closeReplaced = undefined;
      retiring.delete(retire);
      await Promise.all(replaced.map((i) => i.close()));
      // Leases of the replaced generation were renewed while its requests ran; now they go.
      await replacedSecrets.close();
    };
    const retire = () => closeReplaced?.() ?? Promise.resolve();
    retiring.add(retire);
    void tracker.settled().then(retire).catch((err: unknown) => logger.warn({ err }, 'closing replaced instances failed'));

    metrics.configReloads.inc({ result: 'success' });
    const { added, removed, changed, aliasesChanged, restartRequired } = change;
    logger.info({ config: source, added, removed, changed, aliases_changed: aliasesChanged, instances: instances.all.map((i) => i.name) }, 'configuration reloaded');
    if (restartRequired.length > 0) logger.warn({ config: source, sections: restartRequired }, 'configuration changes need a restart to take effect; running values kept');
    auditReload('success', { added, removed, changed, aliases_changed: aliasesChanged, restart_required: restartRequired });
    return { ok: true, added, removed, changed, aliasesChanged, restartRequired };
  }

  return {
    get config() {
      return config;
    },
    logger,
    metrics,
    store,
    instances,
    verifier,
    audit,
    retention,
    responses,
    get secrets() {
      return secrets;
    },
    scrubber,
    anomalies,
    reload: (next, trigger = { by: 'api' }) => reloadConfig(next, trigger),
    async listen() {
      await verifier.start();
      audit.start();
      retention.start();
      responses.start();
      await clientAuth.start();
      await governance.start();
      anomalies?.start();
      secrets.start();
      probes?.start();
      started = true;
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
        // Revokes the leases of dynamic secrets: their cloud credentials end with the gateway.
        await secrets.close().catch((err: unknown) => logger.warn({ err }, 'revoking secret leases failed'));
        probes?.stop();
        await governance.stop();
        await anomalies?.stop();
        responses.stop();
        await events?.close();
        await counters?.close();
        await clientAuth.stop();
        await verifier.stop();
        await retention.stop();
        await audit.stop();
        await journal?.close();
        await Promise.all([...retiring].map((retire) => retire()));
        await instances.close();
        await store.close();
        logger.info({ drained }, 'gateway stopped');
        logger.flush();
        return { drained };
      })();
      return closing;
    },
  };
}
