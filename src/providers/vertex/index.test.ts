import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { readTestdata, testdataSkip } from '../../../test/helpers/testdata.js';
import { byteByByte, randomChunks } from '../../../test/helpers/chunks.js';
import { validate } from '../../config/load.js';
import { createLogger } from '../../observability/logger.js';
import { Metrics } from '../../observability/metrics.js';
import { SecretScrubber } from '../../observability/scrubber.js';
import { SecretResolver } from '../../secrets/resolver.js';
import { forwardableHeaders } from '../../upstream/headers.js';
import type { UpstreamRequest } from '../../upstream/types.js';
import { anthropic } from '../anthropic/index.js';
import { Instance, type InstanceSettings } from '../instance.js';
import { checkNativePath, matchPathRule, rules } from '../transparent-path.js';
import type { ProviderContext, ProviderDefinition, ProviderParts } from '../types.js';
import { UsageObserver, type Usage } from '../usage.js';
import { vertex, vertexExpressPath } from './index.js';
import { vertexUsage } from './usage.js';

const TOKEN = 'ya29.vertex-unit-test-token';
const TIMEOUTS = { connectMs: 1000, firstByteMs: 1000, idleMs: 1000 };
process.env['VERTEX_UNIT_TOKEN'] = TOKEN;

function context(): ProviderContext {
  const scrubber = new SecretScrubber();
  const metrics = new Metrics();
  const logger = createLogger({ level: 'error', scrubber, destination: { write: () => {} } });
  return { secrets: new SecretResolver({ baseDir: '/', defaultIntervalMs: 60_000, scrubber, logger, metrics }), logger, metrics, scrubber, baseDir: '/' };
}

function config(fields: Record<string, unknown> = {}) {
  const cfg = validate(
    { instances: { v: { type: 'vertex', project: 'my-project', location: 'us-central1', authentication: { type: 'access_token', token: '${env:VERTEX_UNIT_TOKEN}' }, ...fields } } },
    'test',
  );
  return cfg.instances['v'] as Parameters<typeof vertex.setup>[1] & { allow_paths: InstanceSettings['extraRules'] };
}

function problems(instance: Record<string, unknown>): string[] {
  try {
    validate({ instances: { v: { type: 'vertex', ...instance } } }, 'test');
  } catch (err) {
    return (err as { problems: string[] }).problems;
  }
  return [];
}

/** `req` as the instance sends it: signed by the provider with the instance's credential. */
async function signed(parts: ProviderParts, instance: Instance, req: UpstreamRequest): Promise<UpstreamRequest> {
  return parts.sign(req, await parts.credential.get(), instance.endpoint);
}

const instances: Instance[] = [];
after(async () => {
  for (const i of instances) await i.close();
});

async function build(fields: Record<string, unknown> = {}): Promise<{ instance: Instance; parts: ProviderParts }> {
  const ctx = context();
  const cfg = config(fields);
  const parts = await vertex.setup('v', cfg, ctx);
  await Promise.all(ctx.secrets.handles.map((h) => h.refresh()));
  const instance = new Instance(
    { name: 'v', provider: vertex as unknown as ProviderDefinition, endpoint: parts.endpoint!, isDefault: false, extraRules: cfg.allow_paths, timeouts: TIMEOUTS, bodyLimit: 1 << 20 },
    parts,
  );
  instances.push(instance);
  return { instance, parts };
}

const allowed = (instance: Instance, method: string, path: string) => matchPathRule(instance.rules, method, checkNativePath(path)) !== undefined;

describe('vertex: configuration', () => {
  test('Google credential kinds: service_account takes key_file or a key reference, not both; default_credentials takes nothing', () => {
    const base = { project: 'my-project', location: 'us-central1' };
    assert.deepEqual(problems({ ...base, authentication: { type: 'service_account', key_file: 'k.json' } }), []);
    assert.deepEqual(problems({ ...base, authentication: { type: 'service_account', key: '${env:SA_KEY}' }, credential_refresh_window: '2m' }), []);
    assert.deepEqual(problems({ ...base, authentication: { type: 'default_credentials' } }), []);
    assert.equal(problems({ ...base, authentication: { type: 'service_account' } }).length, 1);
    assert.equal(problems({ ...base, authentication: { type: 'service_account', key_file: 'k.json', key: '${env:SA_KEY}' } }).length, 1);
    assert.match(problems({ ...base, authentication: { type: 'service_account', key: '{"private_key":"x"}' } })[0] ?? '', /literal secret is refused/);
    assert.deepEqual(problems({ ...base, authentication: { type: 'default_credentials', scope: 'x' } }), ['instances.v.authentication.scope: unknown field']);
  });

  test('project, location and an access_token authentication; errors name their path', () => {
    assert.deepEqual(problems({ location: 'Us Central', authentication: { type: 'access_token', token: 'ya29.literal' }, region: 'x' }), [
      'instances.v.project: required',
      'instances.v.location: must be a Vertex AI location such as us-central1 or global',
      'instances.v.authentication.token: a literal secret is refused: keep it in a secret store and reference it, e.g. "${env:NAME}" or "${file:/run/secrets/name}"',
      'instances.v.region: unknown field',
    ]);
    assert.deepEqual(problems({ project: 'my-project', location: 'us-central1', authentication: { type: 'workload_identity' } }), [
      'instances.v.authentication.type: must be one of access_token, service_account, default_credentials, external_account',
    ]);
    assert.deepEqual(problems({ project: 'my-project', location: 'us-central1', authentication: { type: 'access_token', token: '${env:X}', extra: 1 } }), ['instances.v.authentication.extra: unknown field']);
    for (const project of ['my-project', 'example.com:my-project', '123456789012']) {
      assert.deepEqual(problems({ project, location: 'global', authentication: { type: 'access_token', token: '${env:X}' } }), [], project);
    }
    for (const project of ['p', 'My-Project', 'my_project', 'a/b', 'my-project-']) {
      assert.equal(problems({ project, location: 'global', authentication: { type: 'access_token', token: '${env:X}' } }).length, 1, project);
    }
  });

  test('the endpoint is the location\'s regional host, or the global host; the location is the region label; protocol mode is on', async () => {
    const { instance, parts } = await build();
    assert.deepEqual(instance.endpoint, { origin: 'https://us-central1-aiplatform.googleapis.com', basePath: '' });
    assert.equal(instance.region, 'us-central1');
    assert.ok(instance.chat);
    const t = instance.chat({ model: 'gemini-2.0-flash', id: 'x', created: 0, stream: false, includeUsage: false });
    assert.match(t.request({ model: 'gemini-2.0-flash', messages: [{ role: 'user', content: 'hi' }] }).path, /^\/v1\/projects\/my-project\/locations\/us-central1\//);
    assert.equal(parts.region, 'us-central1');
    const global = await build({ location: 'global' });
    assert.deepEqual(global.instance.endpoint, { origin: 'https://aiplatform.googleapis.com', basePath: '' });
  });

  test('the access token is sent as Authorization: Bearer', async () => {
    const { instance, parts } = await build();
    const req = await signed(parts, instance, instance.transparent('POST', '/v1/x', [], {}, null));
    assert.equal(req.headers['authorization'], `Bearer ${TOKEN}`);
    assert.equal(instance.credential.state.method, 'access_token');
  });
});

describe('vertex: transparent mode is held to the instance\'s project and location', () => {
  test('inference on publisher models in the configured project and location only', async () => {
    const { instance } = await build();
    const base = '/v1/projects/my-project/locations/us-central1/publishers';
    for (const verb of ['generateContent', 'streamGenerateContent', 'countTokens', 'rawPredict', 'streamRawPredict']) {
      assert.ok(allowed(instance, 'POST', `${base}/google/models/gemini-2.0-flash:${verb}`), verb);
    }
    assert.ok(allowed(instance, 'POST', `${base}/anthropic/models/claude-sonnet-4@20250514:rawPredict`));
    assert.ok(allowed(instance, 'POST', '/v1beta1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent'));
    for (const path of [
      '/v1/projects/other-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent',
      '/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent',
      '/v1/projects/MY-PROJECT/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent',
      '/v1/projects/my-project/locations/us-central1/endpoints/123:predict',
      '/v1/projects/my-project/locations/us-central1/publishers/google/models',
      '/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent/extra',
      '/v1/projects/my-project/locations/us-central1/datasets',
      '/v1/projects/my-project/locations/us-central1/cachedContents',
    ]) {
      assert.ok(!allowed(instance, 'POST', path), path);
    }
    assert.ok(!allowed(instance, 'GET', `${base}/google/models/gemini-2.0-flash`));
    assert.ok(!allowed(instance, 'DELETE', `${base}/google/models/gemini-2.0-flash`));
  });

  test('allow_paths adds to the instance\'s own rules', async () => {
    const { instance } = await build({ allow_paths: ['GET v1/publishers/google/models/*'] });
    assert.ok(allowed(instance, 'GET', '/v1/publishers/google/models/gemini-2.0-flash'));
    assert.ok(allowed(instance, 'POST', '/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent'));
  });

  test('ProviderParts.transparentRules replaces the definition\'s rules; without it the definition\'s apply', async () => {
    const parts: ProviderParts = { credential: { get: async () => ({ type: 'bearer', token: 't' }), invalidate() {}, state: { method: 'x', status: 'ok', lastRefreshAt: undefined, expiresAt: undefined, lastError: undefined } }, sign: (r) => r };
    const settings = { name: 'a', provider: anthropic as unknown as ProviderDefinition, endpoint: { origin: 'http://127.0.0.1:9', basePath: '' }, isDefault: false, extraRules: rules('GET v1/files'), timeouts: TIMEOUTS, bodyLimit: 1 };
    const plain = new Instance(settings, parts);
    const own = new Instance(settings, { ...parts, transparentRules: rules('POST v1/only') });
    instances.push(plain, own);
    assert.deepEqual(plain.rules.map((r) => r.source), [...anthropic.transparentRules.map((r) => r.source), 'GET v1/files']);
    assert.deepEqual(own.rules.map((r) => r.source), ['POST v1/only', 'GET v1/files']);
  });

  test('a query naming another project to bill is refused; other queries pass', async () => {
    const { instance, parts } = await build();
    const path = '/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent';
    for (const query of ['?userProject=other', '?alt=sse&%24userProject=other', '?$userProject=other']) {
      await assert.rejects(signed(parts, instance, instance.transparent('POST', path + query, [], {}, null)), { code: 'invalid_request' }, query);
    }
    const ok = await signed(parts, instance, instance.transparent('POST', `${path}?alt=sse`, [], {}, null));
    assert.equal(ok.path, `${path}?alt=sse`);
  });

  test('client headers that would bill or act as someone else are not forwarded', () => {
    const headers = forwardableHeaders(
      { 'x-goog-user-project': 'other', 'x-goog-iam-authorization-token': 't', 'x-goog-iam-authority-selector': 's', 'x-http-method-override': 'DELETE', 'x-goog-api-key': 'k', 'x-goog-api-client': 'genai-js/1.0', 'content-type': 'application/json' },
      vertex.strippedHeaders,
    );
    assert.deepEqual(headers, { 'x-goog-api-client': 'genai-js/1.0', 'content-type': 'application/json', 'accept-encoding': 'identity' });
  });

  test('express-mode paths are completed with the instance\'s project and location; others are left alone', () => {
    const expand = vertexExpressPath('my-project', 'us-central1');
    assert.deepEqual(expand('v1beta1/publishers/google/models/gemini-2.5-flash:generateContent'.split('/')), 'v1beta1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent'.split('/'));
    assert.deepEqual(expand('v1/publishers/anthropic/models/claude-opus-4-8:rawPredict'.split('/')), 'v1/projects/my-project/locations/us-central1/publishers/anthropic/models/claude-opus-4-8:rawPredict'.split('/'));
    for (const path of ['v1/projects/p/locations/l/publishers/google/models/gemini:generateContent', 'v1beta1/publishers/google/models', 'v2/publishers/google/models/gemini:generateContent', 'v1/publishers/google/endpoints/gemini:generateContent']) {
      assert.equal(expand(path.split('/')), undefined, path);
    }
  });

  test('modelFromPath: the model id before the method, for scopes', () => {
    const model = (path: string) => vertex.modelFromPath!(checkNativePath(path));
    assert.equal(model('/v1/projects/p/locations/l/publishers/google/models/gemini-2.0-flash:generateContent'), 'gemini-2.0-flash');
    assert.equal(model('/v1beta1/projects/p/locations/l/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict'), 'claude-sonnet-4@20250514');
    assert.equal(model('/v1/projects/p/locations/l/publishers/google/models/gemini-2.0-flash%3AgenerateContent'), 'gemini-2.0-flash');
    assert.equal(model('/v1/projects/p/locations/l/publishers/google/models'), undefined);
    assert.equal(model('/v1/projects/p/locations/l/endpoints/1:predict'), undefined);
    // Claude's token counter: the body names the model.
    assert.equal(model('/v1/projects/p/locations/l/publishers/anthropic/models/count-tokens:rawPredict'), undefined);
    assert.equal(model('/v1/projects/p/locations/l/publishers/anthropic/models/count-tokens%3ArawPredict'), undefined);
    assert.equal(model('/v1/projects/p/locations/l/publishers/google/models/count-tokens:rawPredict'), 'count-tokens');
    assert.equal(model('/v1/projects/p/locations/l/publishers/anthropic/models/count-tokens:streamRawPredict'), 'count-tokens');
  });
});

// ---------------------------------------------------------------------------------------------
// Usage in transparent mode

const SUB = 'wire/vertex-gemini/mock-responses/vertexai';

function observe(chunks: Iterable<Uint8Array>, contentType: string): Usage | undefined {
  const o = UsageObserver.for(vertexUsage, contentType)!;
  for (const c of chunks) o.push(Buffer.from(c));
  return o.end();
}

describe('vertex: usage from recorded answers and streams', { skip: testdataSkip(SUB) }, () => {
  const sse = 'text/event-stream';
  const cases: Array<[string, string, Usage | undefined]> = [
    ['streaming-success-basic-reply-short.txt', sse, { model: undefined, inputTokens: 6, outputTokens: 4 }],
    ['streaming-success-basic-reply-long.txt', sse, { model: undefined, inputTokens: 12, outputTokens: 1706 }],
    ['streaming-success-thinking-reply-thought-summary.txt', sse, { model: undefined, inputTokens: 9, outputTokens: 1201 }],
    ['streaming-failure-prompt-blocked-safety.txt', sse, undefined],
    ['unary-success-basic-reply-short.json', 'application/json; charset=UTF-8', { model: undefined, inputTokens: 6, outputTokens: 7 }],
    ['unary-success-implicit-caching.json', 'application/json', { model: undefined, inputTokens: 12013, outputTokens: 88 }],
    ['unary-failure-prompt-blocked-safety.json', 'application/json', undefined],
  ];
  for (const [name, type, expected] of cases) {
    test(`${name}, however it is cut`, () => {
      const bytes = readTestdata(SUB, name);
      assert.deepEqual(observe([bytes], type), expected);
      assert.deepEqual(observe(byteByByte(bytes), type), expected);
      for (const seed of [1, 2]) assert.deepEqual(observe(randomChunks(bytes, seed), type), expected);
    });
  }

  test('streamGenerateContent without alt=sse: a JSON array whose last element has the usage', () => {
    const body = JSON.stringify([{ candidates: [], usageMetadata: { trafficType: 'ON_DEMAND' } }, { candidates: [], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 5, thoughtsTokenCount: 2 } }]);
    assert.deepEqual(observe([Buffer.from(body)], 'application/json'), { model: undefined, inputTokens: 3, outputTokens: 7 });
  });

  test('Anthropic models on Vertex (rawPredict) report usage in Anthropic\'s shape', () => {
    assert.deepEqual(observe([Buffer.from('{"type":"message","model":"claude-sonnet-4","usage":{"input_tokens":11,"output_tokens":4}}')], 'application/json'), { model: 'claude-sonnet-4', inputTokens: 11, outputTokens: 4 });
    const events = readTestdata('wire/anthropic', 'messages-stream.basic.sse');
    assert.deepEqual(observe([events], sse), { model: 'claude-3-opus-latest', inputTokens: 11, outputTokens: 6 });
  });
});
