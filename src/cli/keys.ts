import { readFileSync } from 'node:fs';
import { ImportFileError, applyImport, entriesFromEnv, entriesFromFile, planImport, type ImportEntry } from '../clientauth/api-key/import.js';
import { KeyRequestError, issueKey, rotateKey } from '../clientauth/api-key/issue.js';
import { RoleTable } from '../clientauth/rbac.js';
import { loadConfig, locateConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../config-fields/units.js';
import { openCliStore } from '../store/open.js';
import type { KeyRecord, Store } from '../store/types.js';
import { UsageError, list, parse, positiveNumber } from './args.js';
import { auditCliChange } from './audit.js';
import { describeKey, keyJson, keyStatus, table } from './output.js';

const USAGE = `usage:
  llmproxy keys create --name NAME [--user U] [--role admin|developer|viewer|<rbac.roles>] [--instances a,b]
                       [--models m1,m2] [--endpoints chat,embeddings,models] [--expires 30d] [--rpm N] [--tpm N]
                       [--budget-usd N] [--json]
    endpoints: chat, completions, embeddings, models, responses, count_tokens (default: all)
  llmproxy keys list [--stale 60d] [--json]
  llmproxy keys import (--from-env PREFIX | --from-file FILE [--prefix PREFIX]) [--role R] [--instances a,b] [--user U] [--json]
  llmproxy keys show ID [--json]
  llmproxy keys revoke ID [--json]
  llmproxy keys rotate ID [--overlap 24h] [--json]`;

export async function keysCommand(args: string[], out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create':
      return withStore(rest, CREATE_OPTIONS, out, create);
    case 'list':
      return withStore(rest, { stale: { type: 'string' } }, out, async (store, { values }) => {
        const keys = await listed(store, values.stale as string | undefined);
        if (values.json) return out(JSON.stringify(keys.map((k) => keyJson(k)), null, 2));
        if (keys.length === 0) return out(values.stale === undefined ? 'no keys' : `no active key older than ${values.stale as string}`);
        out(
          table(
            ['ID', 'NAME', 'USER', 'ROLE', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'],
            keys.map((k) => [k.id, k.name, k.user ?? '-', k.role, keyStatus(k), day(k.createdAt), day(k.expiresAt) || 'never', day(k.lastUsedAt) || 'never']),
          ),
        );
      });
    case 'import':
      return withStore(rest, IMPORT_OPTIONS, out, importKeys);
    case 'show':
      return withStore(rest, {}, out, async (store, { values, positionals }) => {
        const record = await store.keys.get(requireId(positionals));
        if (!record) throw new KeyRequestError(`no key with id ${positionals[0]}`);
        out(values.json ? JSON.stringify(keyJson(record), null, 2) : describeKey(record));
      });
    case 'revoke':
      return withStore(rest, {}, out, async (store, { values, positionals }) => {
        const before = await store.keys.get(requireId(positionals));
        const record = before && (await store.keys.revoke(before.id, Date.now()));
        if (!before || !record) throw new KeyRequestError(`no key with id ${positionals[0]}`);
        await auditCliChange(store, 'key.revoke', { target: record.id, before: keyJson(before), after: keyJson(record) });
        out(values.json ? JSON.stringify(keyJson(record), null, 2) : `revoked ${record.id} (${record.name}); running gateways refuse it within seconds`);
      });
    case 'rotate':
      return withStore(rest, { overlap: { type: 'string' } }, out, async (store, { values, positionals }) => {
        const overlapText = (values.overlap as string | undefined) ?? '0s';
        const overlapMs = parseDuration(overlapText);
        if (overlapMs === undefined) throw new UsageError(`--overlap must be a duration such as 1h or 24h (got "${overlapText}")`);
        const rotated = await rotateKey(store.keys, requireId(positionals), overlapMs);
        await auditCliChange(store, 'key.rotate', { target: rotated.old.id, after: keyJson(rotated.old), replacement: keyJson(rotated.record) });
        if (values.json) return out(JSON.stringify({ ...keyJson(rotated.record), key: rotated.key, replaced: keyJson(rotated.old) }, null, 2));
        out(
          [
            `new key ${rotated.record.id} (${rotated.record.name}) replaces ${rotated.old.id}.`,
            overlapMs > 0 ? `The old key keeps working until ${new Date(rotated.old.expiresAt!).toISOString()}.` : 'The old key is revoked.',
            '',
            'Key (shown once, store it now):',
            `  ${rotated.key}`,
          ].join('\n'),
        );
      });
    default:
      throw new UsageError(sub === undefined ? 'missing keys subcommand' : `unknown keys subcommand "${sub}"`);
  }
}

export { USAGE as KEYS_USAGE };

const CREATE_OPTIONS = {
  name: { type: 'string' },
  user: { type: 'string' },
  role: { type: 'string' },
  instances: { type: 'string' },
  models: { type: 'string' },
  endpoints: { type: 'string' },
  expires: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'budget-usd': { type: 'string' },
} as const;

type Parsed = ReturnType<typeof parse>;

/** Every key, oldest first; with `--stale D`, the active keys created more than D ago (the rotation backlog). */
async function listed(store: Store, stale: string | undefined): Promise<KeyRecord[]> {
  if (stale === undefined) return store.keys.list();
  const ms = parseDuration(stale);
  if (ms === undefined || ms <= 0) throw new UsageError(`--stale must be a duration such as 60d (got "${stale}")`);
  const now = Date.now();
  const { records } = await store.keys.search({ status: 'active', createdBefore: now - ms, now });
  return records.reverse();
}

const IMPORT_OPTIONS = {
  'from-env': { type: 'string' },
  'from-file': { type: 'string' },
  prefix: { type: 'string' },
  role: { type: 'string' },
  instances: { type: 'string' },
  user: { type: 'string' },
} as const;

/**
 * `keys import`: pre-made keys (the seed's `API_KEY_<NAME>` values from a Kubernetes Secret) become
 * gateway keys named `<name>`, stored as argon2id hashes plus their lookup tag (imported.ts). All
 * or nothing: any problem (weak secret, a secret imported under another name or revoked) is
 * listed and nothing is written. Re-running with the same values changes nothing.
 */
async function importKeys(store: Store, { values }: Parsed, out: (s: string) => void, config: Config): Promise<void> {
  const v = values as Record<string, string | boolean | undefined>;
  const fromEnv = v['from-env'] as string | undefined;
  const fromFile = v['from-file'] as string | undefined;
  if ((fromEnv === undefined) === (fromFile === undefined)) throw new UsageError('give exactly one of --from-env PREFIX and --from-file FILE');
  if (fromEnv !== undefined && v['prefix'] !== undefined) throw new UsageError('--prefix goes with --from-file; --from-env takes the prefix itself');
  if (fromEnv === '') throw new UsageError('--from-env needs a prefix such as API_KEY_');
  let entries: ImportEntry[];
  if (fromEnv !== undefined) {
    entries = entriesFromEnv(process.env, fromEnv);
  } else {
    let text: string;
    try {
      text = readFileSync(fromFile!, 'utf8');
    } catch (err) {
      throw new KeyRequestError(`cannot read ${fromFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    try {
      entries = entriesFromFile(text, fromFile!, v['prefix'] as string | undefined);
    } catch (err) {
      if (err instanceof ImportFileError) throw new KeyRequestError(err.message);
      throw err;
    }
  }
  if (entries.length === 0) throw new KeyRequestError(fromEnv !== undefined ? `no environment variable starts with ${fromEnv}` : `${fromFile} holds no NAME=secret line`);
  const options = {
    ...(v['role'] !== undefined ? { role: v['role'] as string } : {}),
    scopes: { instances: list(v['instances'] as string | undefined) ?? null },
    user: (v['user'] as string | undefined) ?? null,
  };
  const steps = await planImport(store.keys, entries, options, RoleTable.fromConfig(config.rbac.roles));
  const problems = steps.filter((s) => s.action === 'problem');
  if (problems.length > 0) {
    throw new KeyRequestError(`nothing imported:\n${problems.map((p) => `  ${p.entry.source} (${p.entry.name}): ${p.problem}`).join('\n')}`);
  }
  const done = await applyImport(store.keys, steps, options);
  for (const d of done.filter((x) => x.created)) {
    await auditCliChange(store, 'key.import', { target: d.record.id, after: keyJson(d.record), source: d.step.entry.source });
  }
  if (v['json']) return out(JSON.stringify(done.map((d) => ({ ...keyJson(d.record), source: d.step.entry.source, result: d.created ? 'imported' : 'unchanged' })), null, 2));
  out(
    table(
      ['ID', 'NAME', 'ROLE', 'SOURCE', 'RESULT'],
      done.map((d) => [d.record.id, d.record.name, d.record.role, d.step.entry.source, d.created ? 'imported' : 'unchanged (imported before)']),
    ),
  );
}

async function create(store: Store, { values }: Parsed, out: (s: string) => void, config: Config): Promise<void> {
  const v = values as Record<string, string | boolean | undefined>;
  const name = v['name'] as string | undefined;
  if (!name) throw new UsageError('--name is required');
  let expiresAt: number | null = null;
  if (v['expires'] !== undefined) {
    const ms = parseDuration(v['expires'] as string);
    if (ms === undefined || ms <= 0) throw new UsageError(`--expires must be a duration such as 30d (got "${v['expires']}")`);
    expiresAt = Date.now() + ms;
  }
  const issued = await issueKey(store.keys, {
    name,
    user: (v['user'] as string | undefined) ?? null,
    ...(v['role'] !== undefined ? { role: v['role'] as string } : {}),
    scopes: {
      instances: list(v['instances'] as string | undefined) ?? null,
      models: list(v['models'] as string | undefined) ?? null,
      endpoints: list(v['endpoints'] as string | undefined) ?? null,
    },
    limits: {
      rpm: positiveNumber('rpm', v['rpm'] as string | undefined) ?? null,
      tpm: positiveNumber('tpm', v['tpm'] as string | undefined) ?? null,
      budgetUsd: positiveNumber('budget-usd', v['budget-usd'] as string | undefined) ?? null,
    },
    expiresAt,
  }, RoleTable.fromConfig(config.rbac.roles));
  await auditCliChange(store, 'key.create', { target: issued.record.id, after: keyJson(issued.record) });
  if (v['json']) return out(JSON.stringify({ ...keyJson(issued.record), key: issued.key }, null, 2));
  out([`created key ${issued.record.id} (${issued.record.name}, role ${issued.record.role})`, '', 'Key (shown once, store it now):', `  ${issued.key}`].join('\n'));
}

async function withStore(
  args: string[],
  options: Parameters<typeof parse>[1],
  out: (s: string) => void,
  action: (store: Store, parsed: Parsed, out: (s: string) => void, config: Config) => Promise<void>,
): Promise<number> {
  const parsed = parse(args, options);
  const loaded = loadConfig(locateConfig(parsed.values.config as string | undefined));
  const store = await openCliStore(loaded.config, loaded.baseDir);
  try {
    await action(store, parsed, out, loaded.config);
    return 0;
  } finally {
    await store.close();
  }
}

function requireId(positionals: string[]): string {
  const id = positionals[0];
  if (!id) throw new UsageError('a key id is required');
  return id;
}

function day(t: number | null): string {
  return t === null ? '' : new Date(t).toISOString().replace('T', ' ').slice(0, 16);
}
