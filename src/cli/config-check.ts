import type { Override } from '../config/env.js';
import { ConfigError, loadConfig, locateConfig, type LoadedConfig } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { SecretScrubber } from '../observability/scrubber.js';
import { buildInstance, primeCredentials } from '../providers/build.js';
import type { Instance } from '../providers/instance.js';
import { probeInstance, type ProbeResult } from '../providers/probe.js';
import { SecretResolver } from '../secrets/resolver.js';
import { defaultProviderFromEnv, defaultProviderProblem } from '../server/routes/default-provider.js';
import { openCounterStore, openStore } from '../store/open.js';
import { parse, UsageError } from './args.js';
import { table } from './output.js';
import { AlertWebhook } from '../alerts/webhook.js';
import { describePermissionProblem } from '../config/permissions.js';
import { listenFlags, PERMISSION_ADVICE, permissionCheck } from './serve.js';

interface Row {
  instance: string;
  type: string;
  method: string;
  status: 'ok' | 'error';
  expires_at: string | null;
  last_refresh: string | null;
  error: string | null;
  /** With `--probe`: what one authenticated call to the provider found. */
  probe?: ProbeResult;
}

/** `server.port = 9000 (environment PORT)`; a reference's value is not shown, only its source. */
export function describeOverride(o: Override): string {
  const [kind, ...rest] = o.source.split(':');
  const name = rest.join(':');
  const from =
    kind === 'env' ? `environment ${name}` : kind === 'flag' ? `flag ${name}` : kind === 'env-default' ? `the reference's default; ${name} is unset` : o.source;
  return `${o.path}${o.value !== undefined ? ` = ${o.value}` : ''} (${from})`;
}

/**
 * `llmproxy config check`: validates the file, opens the store, builds every instance and
 * resolves every secret reference and credential for real. One row per instance; exit 1 if
 * anything failed. Values taken from the environment or the flags (`--host`, `--port`, as
 * `serve` would take them) are listed with their source. With `--probe`, each instance whose
 * credential resolved also makes its provider's probe (one cheap authenticated call, such as
 * listing models), so a key the provider refuses fails the check before any traffic; an
 * instance whose provider has no probe reports `none` and does not fail it.
 */
export async function configCheckCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(args, { host: { type: 'string' }, port: { type: 'string' }, probe: { type: 'boolean' }, 'strict-permissions': { type: 'boolean' } });
  if (positionals[0] !== 'check') throw new UsageError(positionals[0] === undefined ? 'missing config subcommand' : `unknown config subcommand "${positionals[0]}"`);
  const path = locateConfig(values.config as string | undefined);
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(path, process.cwd(), { flags: listenFlags(values) });
  } catch (err) {
    // A file that does not validate is a result like any other: with --json, say so in JSON.
    if (!(values.json && err instanceof ConfigError)) throw err;
    out(JSON.stringify({ ok: false, config: path ?? 'built-in demo', errors: err.problems, store: null, overrides: [], instances: [] }, null, 2));
    return 1;
  }
  const overrides = loaded.overrides ?? [];
  // Before the store is opened: opening creates a missing SQLite file (mode 0600).
  const permissions = permissionCheck(loaded, values['strict-permissions']);
  const scrubber = new SecretScrubber();
  const logger = createLogger({ level: 'silent', scrubber });
  const metrics = new Metrics();
  const secrets = new SecretResolver({ baseDir: loaded.baseDir, defaultIntervalMs: loaded.config.secrets.refresh_interval, scrubber, logger, metrics });

  let storeProblem: string | null = null;
  try {
    await (await openStore(loaded.config, loaded.baseDir, { scrubber })).close();
    await (await openCounterStore(loaded.config, loaded.baseDir, { scrubber }))?.close();
  } catch (err) {
    storeProblem = err instanceof Error ? err.message : String(err);
  }

  // The alert webhook's URL is a secret reference too: read it as `serve` would (not called).
  const { alerts } = loaded.config;
  let webhookProblem: string | null | undefined;
  if (alerts.webhook_url !== undefined) {
    const options = { reference: alerts.webhook_url, baseDir: loaded.baseDir, timeoutMs: alerts.webhook_timeout, attempts: alerts.webhook_attempts, retryDelayMs: alerts.webhook_retry_delay };
    webhookProblem = await AlertWebhook.open({ ...options, logger, metrics, scrubber }).then(
      () => null,
      (err: unknown) => scrubber.scrub(err instanceof Error ? err.message : String(err)),
    );
  }

  const rows: Row[] = [];
  const built: Instance[] = [];
  const pending: Array<{ name: string; type: string; instance: Instance }> = [];
  for (const [name, cfg] of Object.entries(loaded.config.instances)) {
    try {
      const instance = await buildInstance(name, cfg, loaded.config, { secrets, logger, metrics, scrubber, baseDir: loaded.baseDir });
      built.push(instance);
      pending.push({ name, type: cfg.type, instance });
    } catch (err) {
      rows.push({ instance: name, type: cfg.type, method: cfg.authentication.type, status: 'error', expires_at: null, last_refresh: null, error: err instanceof Error ? err.message : String(err) });
    }
  }
  await secrets.resolveAll();
  await primeCredentials(pending.map((p) => p.instance));
  const probing = values.probe === true;
  const probes = new Map<string, ProbeResult>();
  if (probing) {
    await Promise.all(
      pending
        .filter((p) => p.instance.credential.state.status === 'ok')
        .map(async (p) => {
          const result = await probeInstance(p.instance);
          // The gateway's own words, but a message may carry whatever an error wrapped: masked like a log line.
          probes.set(p.name, { ...result, detail: result.detail === null ? null : scrubber.scrub(result.detail) });
        }),
    );
  }
  const notProbed: ProbeResult = { status: 'error', http_status: null, detail: 'not probed: the credential did not resolve' };
  for (const { name, type, instance } of pending) {
    const s = instance.credential.state;
    rows.push({
      instance: name,
      type,
      method: s.method,
      status: s.status === 'ok' ? 'ok' : 'error',
      expires_at: s.expiresAt === undefined ? null : new Date(s.expiresAt).toISOString(),
      last_refresh: s.lastRefreshAt === undefined ? null : new Date(s.lastRefreshAt).toISOString(),
      error: s.status === 'ok' ? null : (s.lastError ?? 'credential not resolved'),
      ...(probing ? { probe: probes.get(name) ?? notProbed } : {}),
    });
  }
  await Promise.all(built.map((i) => i.close()));
  // A check must not leave dynamic secrets' leases (cloud credentials) behind.
  await secrets.close();
  rows.sort((a, b) => a.instance.localeCompare(b.instance));

  if (probing) for (const r of rows) r.probe ??= notProbed;
  const probeOk = (r: Row) => r.probe === undefined || r.probe.status === 'ok' || r.probe.status === 'none';
  // LLM_DEFAULT_PROVIDER stops `serve` when it names no instance: a check that passes must mean serve starts.
  const defaultProvider = defaultProviderFromEnv();
  const defaultProblem = defaultProvider === undefined ? undefined : defaultProviderProblem(defaultProvider, Object.entries(loaded.config.instances).map(([name, cfg]) => ({ name, type: cfg.type })));
  const permissionsFail = permissions.strict && permissions.problems.length > 0;
  const ok = storeProblem === null && defaultProblem === undefined && !webhookProblem && !permissionsFail && rows.every((r) => r.status === 'ok' && probeOk(r));
  if (values.json) {
    const environment = defaultProvider === undefined ? {} : { default_provider: { value: defaultProvider, problem: defaultProblem ?? null } };
    const permissionsJson = { strict: permissions.strict, problems: permissions.problems };
    const alertsJson = webhookProblem === undefined ? {} : { alert_webhook: webhookProblem ?? 'ok' };
    out(JSON.stringify({ ok, config: loaded.source, store: storeProblem ?? 'ok', ...alertsJson, overrides, ...environment, permissions: permissionsJson, instances: rows }, null, 2));
  } else {
    out(`config: ${loaded.source}`);
    out(`store:  ${storeProblem ?? 'ok'}`);
    if (webhookProblem !== undefined) out(`alert webhook: ${webhookProblem ?? 'ok'}`);
    if (overrides.length > 0) out(['overrides:', ...overrides.map((o) => `  ${describeOverride(o)}`)].join('\n'));
    if (defaultProvider !== undefined) out(defaultProblem ?? `default provider: ${defaultProvider} (LLM_DEFAULT_PROVIDER)`);
    if (permissions.problems.length > 0) {
      const label = permissions.strict ? 'permissions (error, strict):' : 'permissions (warning):';
      out([label, ...permissions.problems.map((p) => `  ${describePermissionProblem(p)}`), `  ${PERMISSION_ADVICE}`].join('\n'));
    }
    if (probing) {
      const probeText = (p: ProbeResult) => (p.status === 'ok' ? 'ok' : `${p.status}${p.http_status !== null ? ` (${p.http_status})` : ''}`);
      out(
        table(
          ['INSTANCE', 'TYPE', 'METHOD', 'STATUS', 'PROBE', 'EXPIRES', 'ERROR'],
          rows.map((r) => [r.instance, r.type, r.method, r.status, probeText(r.probe!), r.expires_at ?? 'never', r.error ?? (r.probe!.status === 'ok' ? '' : (r.probe!.detail ?? ''))]),
        ),
      );
    } else {
      out(table(['INSTANCE', 'TYPE', 'METHOD', 'STATUS', 'EXPIRES', 'ERROR'], rows.map((r) => [r.instance, r.type, r.method, r.status, r.expires_at ?? 'never', r.error ?? ''])));
    }
    out(ok ? 'configuration OK' : 'configuration has problems');
  }
  return ok ? 0 : 1;
}
