import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { expandEnvReferences } from './expand.js';
import { isSecretField } from '../config-fields/fields.js';
import { ConfigError, validate } from './load.js';
import { configSchema } from './schema.js';
import { elementOf, layers, recordValueOf, shapeOf, unionOptions, type Schema } from './schema-walk.js';

const ENV = { ORG: 'org-42', PROJECT: 'proj-7', EMPTY: '', HOSTNAME_VAR: 'models.internal', NESTED: '${env:ORG}', AUDIENCE: 'llmproxy' };

/** An openai instance `o` with `fields` beside a secret-reference api key. */
function openai(fields: Record<string, unknown>, apiKey = '${env:OPENAI_API_KEY_UNSET}') {
  return { instances: { o: { type: 'openai', authentication: { type: 'api_key', api_key: apiKey }, ...fields } } };
}

function expand(raw: unknown, env: NodeJS.ProcessEnv = ENV) {
  return expandEnvReferences(configSchema, raw, env);
}

const instance = (r: ReturnType<typeof expand>) => (r.value as { instances: { o: Record<string, unknown> } }).instances.o;

describe('${env:NAME} in plain fields', () => {
  const expanded: Array<[string, string, string]> = [
    ['${env:NAME}', '${env:ORG}', 'org-42'],
    ['bare ${NAME}', '${ORG}', 'org-42'],
    ['inside other text, twice', 'team-${env:ORG}/${PROJECT}', 'team-org-42/proj-7'],
    ['a default, when the variable is set', '${env:ORG:-fallback}', 'org-42'],
    ['a default, when the variable is unset', '${env:UNSET_VAR:-fallback}', 'fallback'],
    ['a default, when the variable is empty', '${EMPTY:-fallback}', 'fallback'],
    ['an empty default', 'x${env:UNSET_VAR:-}y', 'xy'],
    ['$${ is a literal ${', 'cost $${env:ORG}', 'cost ${env:ORG}'],
    ['a value is inserted as it is, not expanded again', '${env:NESTED}', '${env:ORG}'],
    ['a lone $ or an unclosed ${ is plain text', 'a $b ${c', 'a $b ${c'],
  ];
  for (const [what, text, want] of expanded) {
    test(`${what}: "${text}" → "${want}"`, () => {
      const r = expand(openai({ organization: text }));
      assert.deepEqual(r.problems, []);
      assert.equal(instance(r)['organization'], want);
    });
  }

  test('every reference is recorded with its path; a default used says so', () => {
    const r = expand(openai({ organization: '${env:ORG}-${env:UNSET_VAR:-x}', project: '${PROJECT}' }));
    assert.deepEqual(r.references, [
      { path: 'instances.o.organization', variable: 'ORG', defaulted: false },
      { path: 'instances.o.organization', variable: 'UNSET_VAR', defaulted: true },
      { path: 'instances.o.project', variable: 'PROJECT', defaulted: false },
    ]);
  });

  test('an unset or empty variable is a problem naming the path and the variable; the text stays', () => {
    const r = expand(openai({ organization: '${env:UNSET_VAR}', project: 'p-${EMPTY}' }));
    assert.deepEqual(r.problems, [
      { path: 'instances.o.organization', message: 'environment variable UNSET_VAR is not set or empty (referenced as ${env:UNSET_VAR})' },
      { path: 'instances.o.project', message: 'environment variable EMPTY is not set or empty (referenced as ${EMPTY})' },
    ]);
    assert.equal(instance(r)['organization'], '${env:UNSET_VAR}');
    assert.deepEqual(r.references, []);
  });

  test('a secret store in a plain field is refused: stores are read only for secret fields', () => {
    const r = expand(openai({ organization: '${file:/run/secrets/org}' }));
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]!.path, 'instances.o.organization');
    assert.match(r.problems[0]!.message, /^\$\{file:\/run\/secrets\/org\}: secret stores are read only in secret fields/);
  });

  for (const text of ['${not a name}', '${env:}', '${1ABC}', '${unknown-store:x}']) {
    test(`"${text}" is neither a reference nor plain text: a problem`, () => {
      const r = expand(openai({ organization: text }));
      assert.equal(r.problems.length, 1, JSON.stringify(r.problems));
      assert.match(r.problems[0]!.message, /is not an environment reference; write \$\{env:NAME\}, or \$\$\{ for a literal/);
    });
  }

  test('fields all over the schema: endpoints, lists, unions of string and list, enums, model aliases', () => {
    const r = expand({
      logging: { level: '${env:LEVEL:-warn}' },
      server: { trusted_proxies: ['${env:PROXY:-10.0.0.0/8}'] },
      auth: { oidc: [{ issuer: 'https://${HOSTNAME_VAR}', audience: '${AUDIENCE}' }, { issuer: 'https://b', audience: ['${AUDIENCE}', 'x'] }] },
      model_aliases: { '${env:ORG}': 'o/${env:PROJECT}' },
      ...openai({ endpoint: 'https://${env:HOSTNAME_VAR}/v1' }),
    });
    assert.deepEqual(r.problems, []);
    const v = r.value as Record<string, any>;
    assert.equal(v['logging'].level, 'warn');
    assert.deepEqual(v['server'].trusted_proxies, ['10.0.0.0/8']);
    assert.equal(v['auth'].oidc[0].issuer, 'https://models.internal');
    assert.equal(v['auth'].oidc[0].audience, 'llmproxy');
    assert.deepEqual(v['auth'].oidc[1].audience, ['llmproxy', 'x']);
    assert.deepEqual(v['model_aliases'], { '${env:ORG}': 'o/proj-7' }, 'keys are names, never expanded');
    assert.equal(v['instances'].o.endpoint, 'https://models.internal/v1');
  });

  test('an unknown field or an unknown provider type is left alone for validation to report', () => {
    const r = expand({ colour: '${env:UNSET_VAR}', instances: { x: { type: 'nope', organization: '${env:UNSET_VAR}' } } });
    assert.deepEqual(r.problems, []);
  });
});

describe('secret fields are left to the secret machinery', () => {
  test('a secret reference is kept as written, even when its variable is unset', () => {
    const raw = openai({}, '${env:OPENAI_API_KEY_UNSET}');
    const r = expand(raw);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.references, []);
    assert.deepEqual(r.value, raw);
  });

  test('set variables are not expanded into secret fields either (they stay references, refreshed and scrubbed)', () => {
    const raw = {
      storage: { postgres: { url: '${env:ORG}' }, redis: { url: '${ORG}' } },
      auth: { totp: { encryption_key: '${env:ORG}' } },
      instances: {
        o: { type: 'openai', authentication: { type: 'api_key', api_key: '${env:ORG}' } },
        b: { type: 'bedrock', region: 'us-east-1', authentication: { type: 'access_keys', access_key_id: '${env:ORG}', secret_access_key: '${env:ORG}', session_token: '${ORG}' } },
      },
    };
    const r = expand(raw);
    assert.deepEqual(r.references, []);
    assert.deepEqual(r.value, raw);
  });

  test('every field the secret machinery reads is marked as a secret field', () => {
    // Walk the whole schema and list where the marked fields are.
    const found = new Set<string>();
    const walk = (s: Schema, path: string, depth: number) => {
      if (depth > 30) return;
      if (layers(s).some(isSecretField)) {
        found.add(path);
        return;
      }
      for (const [k, v] of Object.entries(shapeOf(s) ?? {})) walk(v, path ? `${path}.${k}` : k, depth + 1);
      for (const o of unionOptions(s) ?? []) walk(o, path, depth + 1);
      const element = elementOf(s);
      if (element) walk(element, `${path}[]`, depth + 1);
      const value = recordValueOf(s);
      if (value) walk(value, `${path}.*`, depth + 1);
    };
    walk(configSchema, '', 0);
    const leaf = new Set([...found].map((p) => p.split('.').at(-1)));
    for (const path of ['storage.postgres.url', 'storage.redis.url', 'auth.totp.encryption_key', 'instances.*.authentication.api_key']) {
      assert.ok(found.has(path), `${path} is a secret field`);
    }
    for (const field of ['api_key', 'access_key_id', 'secret_access_key', 'session_token', 'token', 'client_secret', 'certificate', 'password', 'private_key', 'passphrase', 'key']) {
      assert.ok(leaf.has(field), `some provider's ${field} is a secret field`);
    }
    for (const path of found) assert.ok(!/organization|project|endpoint|region|issuer/.test(path), `${path} is not a secret`);
  });
});

describe('validate() expands before checking', () => {
  test('the expanded value is validated like file text', () => {
    const config = validate(openai({ organization: '${env:ORG}', endpoint: 'https://${HOSTNAME_VAR}/base' }), 'test', ENV);
    const o = config.instances['o'];
    assert.ok(o?.type === 'openai');
    assert.equal(o.organization, 'org-42');
    assert.deepEqual(o.endpoint, { origin: 'https://models.internal', basePath: '/base' });
    assert.equal(o.authentication.api_key, '${env:OPENAI_API_KEY_UNSET}', 'the secret stays a reference');
  });

  test('an unexpandable field is reported once, by the expansion, not again by the schema', () => {
    assert.throws(
      () => validate(openai({ endpoint: '${env:UNSET_VAR}' }), 'test', ENV),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.length === 1 &&
        err.problems[0] === 'instances.o.endpoint: environment variable UNSET_VAR is not set or empty (referenced as ${env:UNSET_VAR})',
    );
  });

  test('expansion problems and other problems are reported together', () => {
    assert.throws(
      () => validate({ ...openai({ organization: '${env:UNSET_VAR}' }), colour: 'red' }, 'test', ENV),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 2 && err.problems.includes('colour: unknown field'),
    );
  });
});
