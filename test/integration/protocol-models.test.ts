import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { AwsAccounts } from '../emulators/aws-accounts.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const OPENAI_KEY = 'sk-provider-models-0123456789';
const ANTHROPIC_KEY = 'sk-ant-provider-models-0123456789';

/**
 * Model lists through the OpenAI SDK's `models.list()`: each instance's provider list (fetched
 * through the gateway's credential, cached), plus the aliases, limited by the key's scopes;
 * every id listed on `/v1` is usable in a `/v1` chat request.
 */
describe('protocol mode: /v1/models and /openai/{instance}/models list the provider models', () => {
  const accounts = new AwsAccounts();
  let openaiEmu: OpenAIEmulator;
  let anthropicEmu: AnthropicEmulator;
  let bedrock: BedrockEmulator;
  let gw: TestGateway;
  let key: string;
  const client = (baseURL: string, apiKey = key) => new OpenAI({ apiKey, baseURL, maxRetries: 0 });
  const listCalls = () => ({
    openai: openaiEmu.requests.filter((r) => r.path === '/v1/models').length,
    anthropic: anthropicEmu.requests.filter((r) => r.path === '/v1/models').length,
    bedrock: bedrock.requests.filter((r) => r.path === '/foundation-models').length,
  });

  before(async () => {
    const user = accounts.addUser('gateway');
    process.env['PROTO_MODELS_OPENAI_KEY'] = OPENAI_KEY;
    process.env['PROTO_MODELS_ANTHROPIC_KEY'] = ANTHROPIC_KEY;
    process.env['PROTO_MODELS_BEDROCK_SECRET'] = user.secretAccessKey;
    openaiEmu = await new OpenAIEmulator([OPENAI_KEY]).start();
    anthropicEmu = await new AnthropicEmulator([ANTHROPIC_KEY]).start();
    anthropicEmu.modelsPageSize = 1; // two pages: the gateway follows has_more / last_id
    bedrock = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
    gw = await startGateway({
      instances: {
        oai: { type: 'openai', endpoint: openaiEmu.url, authentication: { type: 'api_key', api_key: '${env:PROTO_MODELS_OPENAI_KEY}' } },
        claude: { type: 'anthropic', endpoint: anthropicEmu.url, authentication: { type: 'api_key', api_key: '${env:PROTO_MODELS_ANTHROPIC_KEY}' } },
        br: {
          type: 'bedrock',
          region: 'us-east-1',
          endpoint: bedrock.url,
          control_endpoint: bedrock.url,
          authentication: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:PROTO_MODELS_BEDROCK_SECRET}' },
        },
      },
      model_aliases: { fast: 'oai/gpt-4o-mini' },
    });
    key = await gw.key({ name: 'models' });
  });
  after(async () => {
    await gw.close();
    await Promise.all([openaiEmu.close(), anthropicEmu.close(), bedrock.close()]);
  });

  test('per instance: the provider list, fetched with the gateway credential', async () => {
    const oai = await client(`${gw.url}/openai/oai`).models.list();
    assert.deepEqual(oai.data.map((m) => m.id), ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small', 'fast']);
    assert.deepEqual(oai.data[0], { id: 'gpt-4o', object: 'model', created: 1_700_000_000, owned_by: 'oai' });
    assert.equal(openaiEmu.last.headers.authorization, `Bearer ${OPENAI_KEY}`);

    const claude = await client(`${gw.url}/openai/claude`).models.list();
    assert.deepEqual(claude.data.map((m) => m.id), AnthropicEmulator.MODELS);
    assert.equal(claude.data[0]!.created, Date.parse('2025-01-01T00:00:00Z') / 1000);
    const pages = anthropicEmu.requests.filter((r) => r.path === '/v1/models');
    assert.deepEqual(pages.map((r) => r.query), ['limit=1000', `limit=1000&after_id=${AnthropicEmulator.MODELS[0]}`]);
    assert.equal(pages[0]!.headers['x-api-key'], ANTHROPIC_KEY);

    // Bedrock: the control plane's foundation models invocable on demand, LEGACY ones left out (SigV4 by the gateway).
    const br = await client(`${gw.url}/openai/br`).models.list();
    assert.deepEqual(br.data.map((m) => m.id), ['anthropic.claude-3-haiku-20240307-v1:0', 'amazon.titan-embed-text-v2:0']);
    const listed = bedrock.requests.at(-1)!;
    assert.equal(listed.path, '/foundation-models');
    assert.deepEqual(listed.caller && { scheme: listed.caller.scheme, name: 'userName' in listed.caller ? listed.caller.userName : undefined }, { scheme: 'sigv4', name: 'gateway' });
  });

  test('/v1/models: every instance as instance/model plus the aliases, each usable in a chat request; cached', async () => {
    const before = listCalls();
    const all = await client(`${gw.url}/v1`).models.list();
    const ids = all.data.map((m) => m.id);
    assert.deepEqual(ids, [
      'oai/gpt-4o', 'oai/gpt-4o-mini', 'oai/text-embedding-3-small',
      ...AnthropicEmulator.MODELS.map((m) => `claude/${m}`),
      'br/anthropic.claude-3-haiku-20240307-v1:0', 'br/amazon.titan-embed-text-v2:0',
      'fast',
    ]);
    assert.deepEqual(listCalls(), before, 'a second list within five minutes does not reach the providers');
    for (const id of ids.filter((i) => !i.includes('embed'))) {
      const out = await client(`${gw.url}/v1`).chat.completions.create({ model: id, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
      assert.ok(out.choices[0]?.message.content, `${id} answered`);
    }
  });

  test('a scoped key sees only the instances and models it may use', async () => {
    const scoped = await gw.key({ name: 'haiku-only', scopes: { instances: ['claude', 'br'], models: ['claude-haiku-*', '*claude-3-haiku*'] } });
    assert.deepEqual((await client(`${gw.url}/v1`, scoped).models.list()).data.map((m) => m.id), ['claude/claude-haiku-4-5', 'br/anthropic.claude-3-haiku-20240307-v1:0']);
    assert.deepEqual((await client(`${gw.url}/openai/claude`, scoped).models.list()).data.map((m) => m.id), ['claude-haiku-4-5']);
    // An instance outside the key's scopes lists nothing; the route itself is for the key's own instances.
    assert.deepEqual((await client(`${gw.url}/openai/oai`, scoped).models.list()).data, []);
    await assert.rejects(client(`${gw.url}/v1`, 'llmp_wrong').models.list(), { status: 401 });
  });
});

describe('protocol mode: a provider list that cannot be fetched', () => {
  test('the first failure lists the aliases and names the instance in a header, logged once; no refetch for 30 s', async () => {
    const emu = await new OpenAIEmulator(['sk-right-0123456789']).start();
    process.env['PROTO_MODELS_WRONG_KEY'] = 'sk-wrong-0123456789';
    const gw = await startGateway({
      instances: { oai: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${env:PROTO_MODELS_WRONG_KEY}' } } },
      model_aliases: { fast: 'oai/gpt-4o-mini' },
    });
    try {
      const key = await gw.key({ name: 'models' });
      const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-llmproxy-models-incomplete'), 'oai');
      assert.deepEqual(((await res.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id), ['fast']);
      const warned = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'listing the provider models failed');
      assert.equal(warned.length, 1);
      assert.equal(warned[0]!['instance'], 'oai');
      assert.ok(!gw.logs.join('\n').includes('sk-wrong-0123456789'), 'the provider key is not logged');
      const again = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(again.headers.get('x-llmproxy-models-incomplete'), 'oai');
      assert.equal(emu.requests.filter((r) => r.path === '/v1/models').length, 1, 'a failed provider is not asked again at once');
    } finally {
      await gw.close();
      await emu.close();
    }
  });
});
