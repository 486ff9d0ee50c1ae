import { createApp, StartupError } from '../app.js';
import { issueBootstrapKey } from '../clientauth/api-key/issue.js';
import { withFlags, type ListenFlags } from '../config/env.js';
import { loadConfig, locateConfig, type LoadedConfig } from '../config/load.js';
import { describePermissionProblem, filePermissionProblems, type PermissionProblem } from '../config/permissions.js';
import { parse, UsageError } from './args.js';
import { afterStartup } from './memory.js';

/** `--host H --port N`, checked; shared by `serve` and `config check`. */
export function listenFlags(values: { host?: string | boolean | undefined; port?: string | boolean | undefined }): ListenFlags {
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(/^\d+$/.test(String(values.port)) && port < 65536)) throw new UsageError(`--port must be a port number (got "${String(values.port)}")`);
  return { ...(typeof values.host === 'string' ? { host: values.host } : {}), ...(port !== undefined ? { port } : {}) };
}

/**
 * The sensitive files others could read or change (config/permissions.ts), and whether that is
 * an error: `--strict-permissions` or `server.strict_permissions`. Shared by `serve` and `config check`.
 */
export function permissionCheck(loaded: LoadedConfig, flag: boolean | string | undefined): { problems: PermissionProblem[]; strict: boolean } {
  return { problems: filePermissionProblems(loaded), strict: flag === true || loaded.config.server.strict_permissions };
}

/** What to do about permission problems, after the list. */
export const PERMISSION_ADVICE =
  "make each file readable by the gateway's user only (chmod 600, owned by that user); a Kubernetes Secret volume: defaultMode: 0400 (with the pod's fsGroup, 0440 root:fsGroup is accepted)";

/**
 * `llmproxy serve`: start the gateway; on SIGTERM/SIGINT stop accepting, let in-flight requests
 * and streams finish (up to `server.shutdown_timeout`), flush the audit log, close the store.
 * A second signal exits at once (1); a drain cut short by the timeout exits 1 too. On SIGHUP it re-reads the config file and applies it to new
 * requests (App.reload); a file that fails a check is logged and the running config stays.
 */
export async function serveCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { host: { type: 'string' }, port: { type: 'string' }, 'strict-permissions': { type: 'boolean' } });
  const flags = listenFlags(values);
  // The file plus the environment (PORT, LLMPROXY_SERVER_*, LOG_LEVEL...). The flags go to the
  // listeners rather than into the config, so a SIGHUP reload, which re-reads the file and the
  // environment, compares like with like.
  const loaded = loadConfig(locateConfig(values.config as string | undefined));
  const overrides = withFlags(loaded.overrides ?? [], flags);
  const permissions = permissionCheck(loaded, values['strict-permissions']);
  if (permissions.strict && permissions.problems.length > 0) {
    throw new StartupError(`files others can read or change (strict permissions):\n  ${permissions.problems.map(describePermissionProblem).join('\n  ')}\n${PERMISSION_ADVICE}`);
  }
  const app = await createApp({ loaded, listen: flags });
  for (const p of permissions.problems) {
    app.logger.warn({ file: p.file, role: p.role, mode: p.mode, problems: p.problems, advice: PERMISSION_ADVICE }, `file permissions: ${describePermissionProblem(p)}`);
  }
  // Signals are handled before the gateway announces itself: a SIGTERM sent the moment
  // "gateway listening" appears must drain, not kill.
  // 0 after a clean drain; 1 when the shutdown timeout cut requests or closing failed, so an orchestrator sees it.
  const exit = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        app.logger.warn({ signal }, 'second signal: exiting now');
        app.logger.flush();
        process.exit(1);
      }
      stopping = true;
      app.logger.info({ signal, timeout_ms: loaded.config.server.shutdown_timeout }, 'shutting down: draining in-flight requests');
      app.close().then(
        ({ drained }) => resolve(drained ? 0 : 1),
        (err: unknown) => {
          app.logger.error({ err }, 'error during shutdown');
          app.logger.flush();
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  process.on('SIGHUP', () => {
    app.logger.info({ signal: 'SIGHUP', config: loaded.source }, 'reloading the configuration');
    // App.reload logs and counts the outcome itself, and runs one reload at a time.
    void app.reload(undefined, { by: 'SIGHUP' }).finally(() => app.logger.flush());
  });
  const addresses = await app.listen();
  const base = `http://${addresses.main.address.includes(':') ? `[${addresses.main.address}]` : addresses.main.address}:${addresses.main.port}`;
  const { console: consoleConfig } = loaded.config.server;
  // A browser cannot open 0.0.0.0: the console's address names the loopback host when listening everywhere.
  const consoleUrl = consoleConfig.enabled ? `${base.replace(/\/\/(0\.0\.0\.0|\[::\])/, '//127.0.0.1')}${consoleConfig.path}` : undefined;
  app.logger.info(
    {
      config: loaded.source,
      listen: base,
      tls: addresses.tls?.port,
      metrics_port: addresses.metrics?.port,
      instances: app.instances.all.map((i) => i.name),
      ...(consoleUrl ? { console: consoleUrl } : {}),
      // Where values that are not the file's came from (never a secret: see Override).
      ...(overrides.length > 0 ? { overrides } : {}),
    },
    'gateway listening',
  );
  app.logger.flush(); // announce readiness now, not when the log buffer next fills
  afterStartup(); // memory defaults: the young generation may grow, hot code be optimised

  // No first key where keys cannot be used: API keys switched off, or no authentication at all.
  const { api_keys: apiKeys, mode: authMode } = loaded.config.auth;
  if (apiKeys.bootstrap_admin && apiKeys.enabled && authMode === 'required') {
    const issued = await issueBootstrapKey(app.store.keys);
    if (issued) {
      // Printed straight to the terminal, once; it never passes through the logger.
      process.stdout.write(
        [
          '',
          '================================================================================',
          ' First start: an admin API key was created. It is shown only this once.',
          ` Key id ${issued.record.id}:`,
          `   ${issued.key}`,
          ...(consoleUrl ? ['', ` Admin console: ${consoleUrl} (sign in with the key above)`] : []),
          ...(loaded.source === 'built-in demo'
            ? [
                '',
                ' Try it against the built-in demo upstream:',
                `   curl ${base}/transparent/demo/v1/chat/completions \\`,
                '     -H "Authorization: Bearer <the key above>" -H "Content-Type: application/json" \\',
                `     -d '{"model":"demo-echo","messages":[{"role":"user","content":"Hello"}]}'`,
              ]
            : []),
          '================================================================================',
          '',
        ].join('\n'),
      );
    }
  }

  return exit;
}

export { StartupError };
