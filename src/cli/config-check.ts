import type { Override } from '../config/env.js';
import { loadConfig, locateConfig } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { SecretScrubber } from '../observability/scrubber.js';
import { buildInstance, primeCredentials } from '../providers/build.js';
import type { Instance } from '../providers/instance.js';
import { SecretResolver } from '../secrets/resolver.js';
import { openCounterStore, openStore } from '../store/open.js';
import { parse, UsageError } from './args.js';
import { table } from './output.js';
import { listenFlags } from './serve.js';

interface Row {
  instance: string;
  type: string;
  method: string;
  status: 'ok' | 'error';
  expires_at: string | null;
  last_refresh: string | null;
  error: string | null;
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
 * `serve` would take them) are listed with their source.
 */
export async function configCheckCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(args, { host: { type: 'string' }, port: { type: 'string' } });
  if (positionals[0] !== 'check') throw new UsageError(positionals[0] === undefined ? 'missing config subcommand' : `unknown config subcommand "${positionals[0]}"`);
  const loaded = loadConfig(locateConfig(values.config as string | undefined), process.cwd(), { flags: listenFlags(values) });
  const overrides = loaded.overrides ?? [];
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
    });
  }
  await Promise.all(built.map((i) => i.close()));
  // A check must not leave dynamic secrets' leases (cloud credentials) behind.
  await secrets.close();
  rows.sort((a, b) => a.instance.localeCompare(b.instance));

  const ok = storeProblem === null && rows.every((r) => r.status === 'ok');
  if (values.json) {
    out(JSON.stringify({ ok, config: loaded.source, store: storeProblem ?? 'ok', overrides, instances: rows }, null, 2));
  } else {
    out(`config: ${loaded.source}`);
    out(`store:  ${storeProblem ?? 'ok'}`);
    if (overrides.length > 0) out(['overrides:', ...overrides.map((o) => `  ${describeOverride(o)}`)].join('\n'));
    out(table(['INSTANCE', 'TYPE', 'METHOD', 'STATUS', 'EXPIRES', 'ERROR'], rows.map((r) => [r.instance, r.type, r.method, r.status, r.expires_at ?? 'never', r.error ?? ''])));
    out(ok ? 'configuration OK' : 'configuration has problems');
  }
  return ok ? 0 : 1;
}
