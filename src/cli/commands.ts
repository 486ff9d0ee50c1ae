import { readFileSync } from 'node:fs';
import { StartupError } from '../app.js';
import { KeyRequestError } from '../clientauth/api-key/issue.js';
import { ConfigError } from '../config/load.js';
import { UsageError } from './args.js';
import { configCheckCommand } from './config-check.js';
import { KEYS_USAGE, keysCommand } from './keys.js';
import { LOCKDOWN_USAGE, lockdownCommand } from './lockdown.js';
import { serveCommand } from './serve.js';
import { TOTP_USAGE, totpCommand } from './totp.js';
import { USAGE_USAGE, usageCommand } from './usage.js';
import { USERS_USAGE, usersCommand } from './users.js';

const SERVE_USAGE = `usage:
  llmproxy serve [--config FILE] [--host H] [--port N] [--strict-permissions]`;
const CONFIG_USAGE = `usage:
  llmproxy config check [--config FILE] [--host H] [--port N] [--probe] [--strict-permissions] [--json]`;

/** Each command's usage, printed by \`llmproxy <command> --help\` (exit 0) and after a usage error. */
const COMMAND_USAGE: Readonly<Record<string, string>> = {
  serve: SERVE_USAGE,
  config: CONFIG_USAGE,
  keys: KEYS_USAGE,
  users: USERS_USAGE,
  totp: TOTP_USAGE,
  usage: USAGE_USAGE,
  lockdown: LOCKDOWN_USAGE,
};

const USAGE = `llmproxy: LLM gateway with credential isolation

usage:
${Object.values(COMMAND_USAGE)
  .map((u) => u.replace(/^usage:\n/, ''))
  .join('\n')}

Config: --config FILE, else $LLMPROXY_CONFIG, else ./llmproxy.yaml, else the built-in demo.
Overrides: flag > environment (PORT, HOST, LOG_LEVEL, TLS_CERT_FILE, TLS_KEY_FILE, LLMPROXY_SERVER_*) > file > default.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = (s: string) => process.stdout.write(`${s}\n`);
  // `llmproxy keys --help`, `llmproxy keys create -h`: the command's usage, not an unknown option.
  if (command !== undefined && Object.hasOwn(COMMAND_USAGE, command) && rest.some((a) => a === '--help' || a === '-h')) {
    out(COMMAND_USAGE[command]!);
    return 0;
  }
  switch (command) {
    case 'serve':
      return serveCommand(rest);
    case 'keys':
      return keysCommand(rest, out);
    case 'config':
      return configCheckCommand(rest, out);
    case 'users':
      return usersCommand(rest, out);
    case 'totp':
      return totpCommand(rest, out);
    case 'usage':
      return usageCommand(rest, out);
    case 'lockdown':
      return lockdownCommand(rest, out);
    case '--version':
    case 'version': {
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
      out(pkg.version);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`llmproxy: ${err.message}\n\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (err instanceof ConfigError || err instanceof StartupError || err instanceof KeyRequestError) {
      process.stderr.write(`llmproxy: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`llmproxy: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
