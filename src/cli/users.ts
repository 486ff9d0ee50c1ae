import { KeyRequestError } from '../clientauth/api-key/issue.js';
import { generatePassword, hashPassword, passwordProblem } from '../clientauth/basic/password.js';
import { USER_NAME } from '../clientauth/basic/view.js';
import { RoleTable, DEFAULT_ROLE } from '../clientauth/rbac.js';
import { endpointListProblem } from '../clientauth/scopes.js';
import { loadConfig, locateConfig, type LoadedConfig } from '../config/load.js';
import { IdentityConflictError } from '../store/identity-types.js';
import { openCliStore } from '../store/open.js';
import { deleteUser, erasureJson } from '../store/erase-user.js';
import { pseudonymiser } from '../store/pseudonym.js';
import { readSecretOnce } from '../secrets/read-once.js';
import { auditCliChange } from './audit.js';
import type { Store } from '../store/types.js';
import { UsageError, list, parse, positiveNumber } from './args.js';
import { describeUser, table, userJson } from './output.js';

export const USERS_USAGE = `usage:
  llmproxy users create NAME [--role R] [--password-stdin] [--instances a,b] [--models m1,m2] [--endpoints chat,models]
                        [--rpm N] [--tpm N] [--budget-usd N] [--json]
  llmproxy users passwd NAME [--password-stdin] [--json]
  llmproxy users disable NAME [--json]
  llmproxy users enable NAME [--json]
  llmproxy users list [--json]
  llmproxy users show NAME [--json]
  llmproxy users delete NAME [--purge] [--json]
      revokes the user's keys, deletes the user, its sessions, TOTP secret and backup codes;
      --purge also deletes its usage rows and audit events (or, with privacy.pseudonymise,
      replaces its name there with a keyed pseudonym)`;

/** User names: what goes before the colon of a Basic credential, so no colon. */
const MAX_STDIN_BYTES = 4096;

type Parsed = ReturnType<typeof parse>;
export type Action = (store: Store, parsed: Parsed, loaded: LoadedConfig, out: (s: string) => void) => Promise<void>;

export async function usersCommand(args: string[], out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create':
      return withLoadedStore(rest, CREATE_OPTIONS, out, create);
    case 'passwd':
      return withLoadedStore(rest, { 'password-stdin': { type: 'boolean' } }, out, passwd);
    case 'disable':
    case 'enable':
      return withLoadedStore(rest, {}, out, async (store, { values, positionals }) => {
        const name = requireName(positionals);
        const record = await store.identity.users.setDisabled(name, sub === 'disable', Date.now());
        if (!record) throw new KeyRequestError(`no user named ${name}`);
        if (values.json) return out(JSON.stringify(userJson(record), null, 2));
        out(sub === 'disable' ? `disabled ${name}; running gateways refuse the user and its sessions within seconds` : `enabled ${name}`);
      });
    case 'list':
      return withLoadedStore(rest, {}, out, async (store, { values }) => {
        const users = await store.identity.users.list();
        if (values.json) return out(JSON.stringify(users.map(userJson), null, 2));
        if (users.length === 0) return out('no users');
        out(table(['NAME', 'ROLE', 'STATUS', 'PASSWORD', 'CREATED'], users.map((u) => [u.name, u.role, u.disabled ? 'disabled' : 'active', u.passwordHash ? 'set' : 'none', day(u.createdAt)])));
      });
    case 'delete':
      return withLoadedStore(rest, { purge: { type: 'boolean' } }, out, remove);
    case 'show':
      return withLoadedStore(rest, {}, out, async (store, { values, positionals }) => {
        const name = requireName(positionals);
        const record = await store.identity.users.get(name);
        if (!record) throw new KeyRequestError(`no user named ${name}`);
        out(values.json ? JSON.stringify(userJson(record), null, 2) : describeUser(record));
      });
    default:
      throw new UsageError(sub === undefined ? 'missing users subcommand' : `unknown users subcommand "${sub}"`);
  }
}

const CREATE_OPTIONS = {
  role: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  instances: { type: 'string' },
  models: { type: 'string' },
  endpoints: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'budget-usd': { type: 'string' },
} as const;

async function create(store: Store, { values, positionals }: Parsed, loaded: LoadedConfig, out: (s: string) => void): Promise<void> {
  const v = values as Record<string, string | boolean | undefined>;
  const name = requireName(positionals);
  if (!USER_NAME.test(name)) throw new UsageError('a user name is 1-64 letters, digits, ".", "_", "@", "+" or "-", starting with a letter or digit');
  const roles = RoleTable.fromConfig(loaded.config.rbac.roles);
  const role = (v['role'] as string | undefined) ?? DEFAULT_ROLE;
  if (!roles.isKnown(role)) throw new KeyRequestError(`unknown role "${role}" (known: ${roles.names.join(', ')})`);
  const endpoints = list(v['endpoints'] as string | undefined);
  const endpointProblem = endpointListProblem(endpoints);
  if (endpointProblem !== undefined) throw new UsageError(`--endpoints: ${endpointProblem}`);
  const { password, generated } = await choosePassword(v['password-stdin'] === true);
  let record;
  try {
    record = await store.identity.users.create({
      name,
      role,
      passwordHash: await hashPassword(password),
      scopes: { instances: list(v['instances'] as string | undefined) ?? null, models: list(v['models'] as string | undefined) ?? null, ...(endpoints ? { endpoints } : {}) },
      limits: {
        rpm: positiveNumber('rpm', v['rpm'] as string | undefined) ?? null,
        tpm: positiveNumber('tpm', v['tpm'] as string | undefined) ?? null,
        budgetUsd: positiveNumber('budget-usd', v['budget-usd'] as string | undefined) ?? null,
      },
    });
  } catch (err) {
    if (err instanceof IdentityConflictError) throw new KeyRequestError(err.message);
    throw err;
  }
  if (!loaded.config.auth.basic.enabled) process.stderr.write('llmproxy: note: auth.basic.enabled is false in this config; the gateway refuses Basic credentials until it is set\n');
  if (v['json']) return out(JSON.stringify({ ...userJson(record), ...(generated ? { password } : {}) }, null, 2));
  out([`created user ${record.name} (role ${record.role})`, ...(generated ? ['', 'Password (shown once, store it now):', `  ${password}`] : [])].join('\n'));
}

async function passwd(store: Store, { values, positionals }: Parsed, _loaded: LoadedConfig, out: (s: string) => void): Promise<void> {
  const name = requireName(positionals);
  if (!(await store.identity.users.get(name))) throw new KeyRequestError(`no user named ${name}`);
  const { password, generated } = await choosePassword(values['password-stdin'] === true);
  const record = await store.identity.users.setPassword(name, await hashPassword(password), Date.now());
  if (!record) throw new KeyRequestError(`no user named ${name}`);
  if (values.json) return out(JSON.stringify({ ...userJson(record), ...(generated ? { password } : {}) }, null, 2));
  out([`password of ${name} changed; its sessions are refused from now on`, ...(generated ? ['', 'Password (shown once, store it now):', `  ${password}`] : [])].join('\n'));
}

async function remove(store: Store, { values, positionals }: Parsed, loaded: LoadedConfig, out: (s: string) => void): Promise<void> {
  const name = requireName(positionals);
  const purge = values['purge'] === true;
  const { privacy } = loaded.config;
  const pseudonym = purge && privacy.pseudonymise ? pseudonymiser(await readSecretOnce('privacy.pseudonymise_key', privacy.pseudonymise_key!, loaded.baseDir)) : undefined;
  const erased = await deleteUser(store, name, { purge, pseudonym });
  if (!erased) throw new KeyRequestError(`no user named ${name}`);
  const summary = erasureJson(erased);
  const shown = erased.pseudonym ?? name;
  await auditCliChange(store, 'user.delete', { target: shown, ...summary });
  if (values.json) return out(JSON.stringify({ user: shown, deleted: true, ...summary }, null, 2));
  out(
    [
      `deleted user ${name}; ${erased.keysRevoked.length} key(s) revoked (running gateways refuse them within seconds), ${erased.sessions} session(s) and ${erased.totpEnrolments} TOTP enrolment(s) removed`,
      ...(erased.purged
        ? [erased.pseudonym !== null ? `usage rows (${erased.usageRows}) and audit events (${erased.auditEvents}) now carry ${erased.pseudonym}` : `deleted ${erased.usageRows} usage row(s) and ${erased.auditEvents} audit event(s)`]
        : []),
    ].join('\n'),
  );
}

/** The password from stdin (one line; the policy applies), or a generated one. */
async function choosePassword(fromStdin: boolean): Promise<{ password: string; generated: boolean }> {
  if (!fromStdin) return { password: generatePassword(), generated: true };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_STDIN_BYTES) throw new KeyRequestError(`the password on stdin is longer than ${MAX_STDIN_BYTES} bytes`);
    chunks.push(chunk);
  }
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  const problem = passwordProblem(password);
  if (problem) throw new KeyRequestError(problem);
  return { password, generated: false };
}

/** Loads the config, opens its store, runs `action`, closes the store. */
export async function withLoadedStore(args: string[], options: Parameters<typeof parse>[1], out: (s: string) => void, action: Action): Promise<number> {
  const parsed = parse(args, options);
  const loaded = loadConfig(locateConfig(parsed.values.config as string | undefined));
  const store = await openCliStore(loaded.config, loaded.baseDir);
  try {
    await action(store, parsed, loaded, out);
    return 0;
  } finally {
    await store.close();
  }
}

function requireName(positionals: string[]): string {
  const name = positionals[0];
  if (!name) throw new UsageError('a user name is required');
  return name;
}

function day(t: number): string {
  return new Date(t).toISOString().replace('T', ' ').slice(0, 16);
}
