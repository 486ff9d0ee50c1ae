import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI, { AzureOpenAI } from 'openai';
import { ConfigError, validate } from '../../src/config/load.js';
import { AzureOpenAIEmulator } from '../emulators/azure-openai.js';
import type { Emulator, Exchange, RecordedRequest } from '../emulators/base.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const AZURE_KEY = 'azure-provider-key-0123456789abcdef';
const XAI_KEY = 'xai-provider-key-0123456789abcdef';
const OLLAMA_PROXY_KEY = 'ollama-proxy-key-0123456789abcdef';
process.env['PROTO_COMPAT_AZURE_KEY'] = AZURE_KEY;
process.env['PROTO_COMPAT_XAI_KEY'] = XAI_KEY;
process.env['PROTO_COMPAT_OLLAMA_KEY'] = OLLAMA_PROXY_KEY;

/**
 * A local Ollama: no authentication at all, OpenAI's `/v1` routes (from the OpenAI emulator)
 * plus a few native `/api` ones. Model management routes answer 200 so a test notices if the
 * gateway ever forwards one.
 */
class OllamaEmulator extends OpenAIEmulator {
  protected override authenticate(): undefined {
    return undefined;
  }

  protected override async route(ex: Exchange): Promise<void> {
    const { method, path } = ex.record;
    if (method === 'GET' && path === '/api/tags') {
      return this.json(ex, 200, { models: [{ name: 'llama3.2:latest', model: 'llama3.2:latest', size: 2019393189, digest: 'a80c4f17acd5', details: { family: 'llama' } }] });
    }
    if (method === 'POST' && path === '/api/chat') {
      return this.json(ex, 200, {
        model: ex.json?.['model'], created_at: new Date().toISOString(), message: { role: 'assistant', content: OpenAIEmulator.REPLY.join('') },
        done: true, done_reason: 'stop', prompt_eval_count: 26, eval_count: OpenAIEmulator.REPLY.length,
      });
    }
    if (path.startsWith('/api/')) return this.json(ex, 200, { status: 'success', note: 'a model-management route was reached' });
    return super.route(ex);
  }
}

/** One OpenAI-compatible provider as this suite drives it. */
interface Case {
  instance: string;
  /** `model_aliases` entry pointing at the instance. */
  alias: string;
  /** The provider model id clients name on `/openai/{instance}`. */
  model: string;
  reply: string;
  /** How many content chunks the emulator streams. */
  words: number;
  emulator(): Emulator;
  /** Checks what reached the provider for a chat completion of `model`. */
  upstream(last: RecordedRequest): void;
  /** An error the provider answers, in its own shape, and the text the client must see. */
  error: { status: number; body: unknown; message: RegExp };
}

describe('protocol mode for Azure OpenAI, xAI and Ollama: the OpenAI SDK through /openai/{instance} and /v1', () => {
  let azure: AzureOpenAIEmulator;
  let xaiEmu: OpenAIEmulator;
  let ollamaEmu: OllamaEmulator;
  let proxiedOllama: OpenAIEmulator;
  let gw: TestGateway;
  let key: string;

  before(async () => {
    azure = await new AzureOpenAIEmulator([AZURE_KEY], { 'prod-gpt4o': 'gpt-4o-2024-08-06', 'gpt-4o-mini': 'gpt-4o-mini-2024-07-18' }).start();
    xaiEmu = await new OpenAIEmulator([XAI_KEY]).start();
    ollamaEmu = await new OllamaEmulator([]).start();
    proxiedOllama = await new OpenAIEmulator([OLLAMA_PROXY_KEY]).start();
    gw = await startGateway({
      instances: {
        az: {
          type: 'azure',
          endpoint: azure.url,
          deployments: { 'gpt-4o': 'prod-gpt4o' },
          timeouts: { idle: '400ms' },
          authentication: { type: 'api_key', api_key: '${env:PROTO_COMPAT_AZURE_KEY}' },
        },
        grok: { type: 'xai', endpoint: xaiEmu.url, timeouts: { idle: '400ms' }, authentication: { type: 'api_key', api_key: '${env:PROTO_COMPAT_XAI_KEY}' } },
        // No authentication block: a local Ollama takes none.
        local: { type: 'ollama', endpoint: ollamaEmu.url, timeouts: { idle: '400ms' } },
        proxied: { type: 'ollama', endpoint: proxiedOllama.url, authentication: { type: 'api_key', api_key: '${env:PROTO_COMPAT_OLLAMA_KEY}' } },
      },
      model_aliases: { 'azure-4o': 'az/gpt-4o', 'grok-fast': 'grok/grok-4', llama: 'local/llama3.2' },
    });
    key = await gw.key({ name: 'protocol-compatible' });
  });
  after(async () => {
    await gw.close();
    await Promise.all([azure.close(), xaiEmu.close(), ollamaEmu.close(), proxiedOllama.close()]);
  });

  const client = (baseURL: string, apiKey = key) => new OpenAI({ apiKey, baseURL, maxRetries: 0 });

  const CASES: Case[] = [
    {
      instance: 'az',
      alias: 'azure-4o',
      model: 'gpt-4o',
      reply: AzureOpenAIEmulator.REPLY.join(''),
      words: AzureOpenAIEmulator.REPLY.length,
      emulator: () => azure,
      upstream(last) {
        // `deployments` maps the model to its deployment; the API version is the default GA one.
        assert.equal(last.path, '/openai/deployments/prod-gpt4o/chat/completions');
        assert.equal(last.query, 'api-version=2024-10-21');
        assert.equal(last.headers['api-key'], AZURE_KEY);
        assert.equal(last.headers.authorization, undefined);
      },
      error: {
        status: 400,
        body: { error: { code: 'content_filter', message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.", param: 'prompt', status: 400 } },
        message: /filtered due to the prompt/,
      },
    },
    {
      instance: 'grok',
      alias: 'grok-fast',
      model: 'grok-4',
      reply: OpenAIEmulator.REPLY.join(''),
      words: OpenAIEmulator.REPLY.length,
      emulator: () => xaiEmu,
      upstream(last) {
        assert.equal(last.path, '/v1/chat/completions');
        assert.equal(last.headers.authorization, `Bearer ${XAI_KEY}`);
      },
      // xAI's error body: `error` is a string.
      error: { status: 400, body: { code: 'Client specified an invalid argument', error: 'Argument not supported on this model: presencePenalty' }, message: /Argument not supported on this model/ },
    },
    {
      instance: 'local',
      alias: 'llama',
      model: 'llama3.2',
      reply: OpenAIEmulator.REPLY.join(''),
      words: OpenAIEmulator.REPLY.length,
      emulator: () => ollamaEmu,
      upstream(last) {
        assert.equal(last.path, '/v1/chat/completions');
        // `none`: nothing is added, not even an empty Authorization.
        assert.equal(last.headers.authorization, undefined);
        assert.equal(last.headers['api-key'], undefined);
      },
      error: { status: 404, body: { error: { message: 'model "llama9" not found, try pulling it first', type: 'api_error', param: null, code: null } }, message: /not found, try pulling it first/ },
    },
  ];

  for (const c of CASES) {
    describe(c.instance, () => {
      test('non-streaming through /openai/{instance}: provider credential applied, answer in OpenAI shape', async () => {
        const emu = c.emulator();
        emu.reset();
        const out = await client(`${gw.url}/openai/${c.instance}`).chat.completions.create({ model: c.model, messages: [{ role: 'user', content: 'hi' }] });
        assert.equal(out.choices[0]?.message.content, c.reply);
        assert.ok(out.usage && out.usage.completion_tokens > 0);
        c.upstream(emu.last);
        assert.equal(JSON.parse(emu.last.body.toString('utf8')).model, c.model);
        const upstream = JSON.stringify(emu.last.headers) + emu.last.body.toString('utf8') + emu.last.query;
        assert.ok(!upstream.includes(key), 'the gateway key reached the provider');
      });

      test('streaming with include_usage through /v1 and an alias: clean chunks, usage last, accounted', async () => {
        const emu = c.emulator();
        emu.reset();
        const stream = await client(`${gw.url}/v1`).chat.completions.create({ model: c.alias, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
        const chunks: OpenAI.ChatCompletionChunk[] = [];
        for await (const chunk of stream) chunks.push(chunk);
        assert.equal(chunks.map((k) => k.choices[0]?.delta.content ?? '').join(''), c.reply);
        // Every chunk is a real completion chunk: Azure's prompt-filter event is not among them.
        for (const k of chunks) {
          assert.equal(k.object, 'chat.completion.chunk');
          assert.ok(k.id !== '', 'a chunk with an empty id reached the client');
          assert.ok(k.choices.length > 0 || k.usage, 'a chunk with neither choices nor usage reached the client');
        }
        assert.equal(chunks.length, c.words + 3); // role, words, finish, usage
        const usage = chunks.at(-1)?.usage;
        assert.ok(usage && usage.completion_tokens > 0 && usage.prompt_tokens > 0);
        c.upstream(emu.last);
        await gw.settle();
        const metrics = await (await fetch(`${gw.url}/metrics`)).text();
        assert.match(metrics, new RegExp(`llmproxy_tokens_total\\{instance="${c.instance}",model="${c.model.replace('.', '\\.')}",direction="output"\\} [1-9]`));
      });

      test('tools: a tool call (JSON and streamed argument deltas) and the tool result sent back', async () => {
        const emu = c.emulator();
        const weather: OpenAI.ChatCompletionTool = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } };
        const asked: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
        const sdk = client(`${gw.url}/openai/${c.instance}`);
        const out = await sdk.chat.completions.create({ model: c.model, messages: asked, tools: [weather] });
        const call = out.choices[0]?.message.tool_calls?.[0];
        assert.equal(out.choices[0]?.finish_reason, 'tool_calls');
        assert.deepEqual(JSON.parse(call?.type === 'function' ? call.function.arguments : '{}'), { location: 'Paris' });
        const streamed = await sdk.chat.completions.stream({ model: c.model, messages: asked, tools: [weather] }).finalChatCompletion();
        const streamedCall = streamed.choices[0]?.message.tool_calls?.[0];
        assert.deepEqual(JSON.parse(streamedCall?.type === 'function' ? streamedCall.function.arguments : '{}'), { location: 'Paris' });
        emu.reset();
        await sdk.chat.completions.create({ model: c.model, tools: [weather], messages: [...asked, out.choices[0]!.message, { role: 'tool', tool_call_id: call!.id, content: '18°C' }] });
        const sent = JSON.parse(emu.last.body.toString('utf8')) as { messages: Array<{ role: string; tool_call_id?: string }> };
        assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'tool']);
        assert.equal(sent.messages[2]?.tool_call_id, call!.id);
      });

      test("the provider's error becomes an OpenAI error the SDK raises, with the provider's message", async () => {
        const emu = c.emulator();
        emu.reset();
        emu.inject({ status: c.error.status, body: c.error.body });
        await assert.rejects(client(`${gw.url}/openai/${c.instance}`).chat.completions.create({ model: c.model, messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.APIError>) => {
          assert.equal(err.status, c.error.status);
          assert.match(err.message, c.error.message);
          return true;
        });
      });

      test('a stream that stalls before [DONE] ends with an SSE error the SDK raises', async () => {
        const emu = c.emulator();
        emu.reset();
        emu.behaviour.stallAfterChunks = 3;
        const stream = await client(`${gw.url}/openai/${c.instance}`).chat.completions.create({ model: c.model, stream: true, messages: [{ role: 'user', content: 'hi' }] });
        const seen: string[] = [];
        await assert.rejects(
          (async () => {
            for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
          })(),
          /stopped sending|stream/,
        );
        assert.ok(seen.length >= 1, 'chunks before the stall were delivered');
        emu.reset();
      });
    });
  }

  test('azure: an unknown deployment is 404 with Azure\'s message; an unaddressable model is refused before anything is sent', async () => {
    azure.reset();
    await assert.rejects(client(`${gw.url}/openai/az`).chat.completions.create({ model: 'gpt-5-nope', messages: [{ role: 'user', content: 'hi' }] }), (err: InstanceType<typeof OpenAI.NotFoundError>) => {
      assert.equal(err.status, 404);
      assert.equal(err.code, 'upstream_not_found');
      assert.match(err.message, /deployment for this resource does not exist/);
      return true;
    });
    assert.equal(azure.last.path, '/openai/deployments/gpt-5-nope/chat/completions');
    // An unmapped model is used as the deployment name as is.
    const mini = await client(`${gw.url}/openai/az`).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(mini.model, 'gpt-4o-mini-2024-07-18');
    const before = azure.requests.length;
    await assert.rejects(client(`${gw.url}/openai/az`).chat.completions.create({ model: '../admin', messages: [{ role: 'user', content: 'hi' }] }), { status: 400 });
    assert.equal(azure.requests.length, before);
  });

  test('ollama with api_key (behind an authenticating proxy): sent as Bearer', async () => {
    proxiedOllama.reset();
    const out = await client(`${gw.url}/openai/proxied`).chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(out.choices[0]?.message.content, OpenAIEmulator.REPLY.join(''));
    assert.equal(proxiedOllama.last.headers.authorization, `Bearer ${OLLAMA_PROXY_KEY}`);
  });

  describe('transparent mode', () => {
    const call = (path: string, init: RequestInit = {}) =>
      fetch(`${gw.url}/transparent/${path}`, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) } });
    const chatBody = (model: string) => JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] });

    test('azure: the deployment path and the client\'s api-version pass through; the key becomes the provider\'s api-key', async () => {
      azure.reset();
      const res = await call('az/openai/deployments/prod-gpt4o/chat/completions?api-version=2025-04-01-preview', { method: 'POST', body: chatBody('ignored') });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { prompt_filter_results?: unknown; choices: Array<{ message: { content: string } }> };
      assert.equal(body.choices[0]?.message.content, AzureOpenAIEmulator.REPLY.join(''));
      assert.ok(body.prompt_filter_results, "Azure's own fields are passed through");
      assert.equal(azure.last.path, '/openai/deployments/prod-gpt4o/chat/completions');
      assert.equal(azure.last.query, 'api-version=2025-04-01-preview');
      assert.equal(azure.last.headers['api-key'], AZURE_KEY);
      assert.equal(azure.last.headers.authorization, undefined);

      // Azure's answers to a missing or unknown api-version reach the client unchanged.
      const missing = await call('az/openai/deployments/prod-gpt4o/chat/completions', { method: 'POST', body: chatBody('x') });
      assert.equal(missing.status, 404);
      const unknown = await call('az/openai/deployments/prod-gpt4o/embeddings?api-version=2019-01-01', { method: 'POST', body: JSON.stringify({ input: 'x' }) });
      assert.equal(unknown.status, 400);
      assert.deepEqual(await unknown.json(), { error: { code: 'BadRequest', message: 'API version not supported' } });

      // The v1 API: OpenAI's paths under /openai/v1, the deployment in `model`.
      const v1 = await call('az/openai/v1/chat/completions', { method: 'POST', body: chatBody('prod-gpt4o') });
      assert.equal(v1.status, 200);
      assert.equal(azure.last.path, '/openai/v1/chat/completions');
    });

    test("azure: Azure's own SDK client (api-key header) works against /transparent/{instance}", async () => {
      azure.reset();
      const az = new AzureOpenAI({ endpoint: `${gw.url}/transparent/az`, apiKey: key, apiVersion: '2024-10-21', deployment: 'prod-gpt4o', maxRetries: 0 });
      const out = await az.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(out.choices[0]?.message.content, AzureOpenAIEmulator.REPLY.join(''));
      assert.equal(azure.last.path, '/openai/deployments/prod-gpt4o/chat/completions');
      assert.equal(azure.last.query, 'api-version=2024-10-21');
      assert.equal(azure.last.headers['api-key'], AZURE_KEY);
    });

    test('xai: an inference path works; admin-ish paths are 403 and never forwarded', async () => {
      xaiEmu.reset();
      const res = await call('grok/v1/chat/completions', { method: 'POST', body: chatBody('grok-4') });
      assert.equal(res.status, 200);
      assert.equal(xaiEmu.last.headers.authorization, `Bearer ${XAI_KEY}`);
      const models = await call('xai/v1/models'); // the provider type names its default instance
      assert.equal(models.status, 200);
      const before = xaiEmu.requests.length;
      for (const [method, path] of [['GET', 'grok/v1/api-key'], ['GET', 'grok/v1/files'], ['POST', 'grok/v1/batches'], ['POST', 'grok/v1/embeddings']] as const) {
        const denied = await call(path, method === 'POST' ? { method, body: '{}' } : { method });
        assert.equal(denied.status, 403, path);
        assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'path_not_allowed');
      }
      assert.equal(xaiEmu.requests.length, before);
    });

    test('ollama: native and OpenAI-compatible inference paths work without a credential; model management is 403', async () => {
      ollamaEmu.reset();
      const tags = await call('local/api/tags');
      assert.equal(tags.status, 200);
      assert.equal(((await tags.json()) as { models: unknown[] }).models.length, 1);
      const chat = await call('local/api/chat', { method: 'POST', body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false }) });
      assert.equal(chat.status, 200);
      const v1 = await call('local/v1/chat/completions', { method: 'POST', body: chatBody('llama3.2') });
      assert.equal(v1.status, 200);
      assert.equal(ollamaEmu.last.headers.authorization, undefined);
      await gw.settle();
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /llmproxy_tokens_total\{instance="local",model="llama3\.2",direction="input"\} [1-9]/);
      const before = ollamaEmu.requests.length;
      for (const [method, path] of [['POST', 'local/api/pull'], ['POST', 'local/api/create'], ['DELETE', 'local/api/delete'], ['POST', 'local/api/push']] as const) {
        const denied = await call(path, { method, body: JSON.stringify({ model: 'llama3.2' }) });
        assert.equal(denied.status, 403, path);
      }
      assert.equal(ollamaEmu.requests.length, before);
    });

    test('azure: a model-scoped key is held to the deployment the path names, whatever the body says', async () => {
      const scoped = await gw.key({ name: 'azure-scoped', scopes: { instances: null, models: ['prod-gpt4o'] } });
      const as = (path: string, model: string) =>
        fetch(`${gw.url}/transparent/${path}`, { method: 'POST', headers: { authorization: `Bearer ${scoped}`, 'content-type': 'application/json' }, body: chatBody(model) });
      assert.equal((await as('az/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21', 'anything')).status, 200);
      const denied = await as('az/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21', 'prod-gpt4o');
      assert.equal(denied.status, 403);
      assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'model_not_in_scope');
    });

    test('azure: admin-ish paths are 403 and never forwarded', async () => {
      const before = azure.requests.length;
      for (const [method, path] of [['GET', 'az/openai/files?api-version=2024-10-21'], ['GET', 'az/openai/deployments?api-version=2022-12-01'], ['POST', 'az/openai/fine_tuning/jobs?api-version=2024-10-21'], ['GET', 'az/openai/v1/files']] as const) {
        const denied = await call(path, method === 'POST' ? { method, body: '{}' } : { method });
        assert.equal(denied.status, 403, path);
      }
      assert.equal(azure.requests.length, before);
    });
  });

  test('config: an azure instance without endpoint is refused, naming instances.x.endpoint', () => {
    const config = { instances: { x: { type: 'azure', authentication: { type: 'api_key', api_key: '${env:PROTO_COMPAT_AZURE_KEY}' } } } };
    assert.throws(
      () => validate(config, 'test'),
      (err: unknown) => err instanceof ConfigError && err.problems.includes('instances.x.endpoint: required'),
    );
    const badDeployment = { instances: { x: { type: 'azure', endpoint: 'https://r.openai.azure.com', deployments: { 'gpt-4o': '../x' }, authentication: { type: 'api_key', api_key: '${env:A}' } } } };
    assert.throws(() => validate(badDeployment, 'test'), (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.startsWith('instances.x.deployments.gpt-4o: ')));
    const badVersion = { instances: { x: { type: 'azure', endpoint: 'https://r.openai.azure.com', api_version: 'v1', authentication: { type: 'api_key', api_key: '${env:A}' } } } };
    assert.throws(() => validate(badVersion, 'test'), (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.startsWith('instances.x.api_version: ')));
    const ollamaBadAuth = { instances: { o: { type: 'ollama', authentication: { type: 'api_key' } } } };
    assert.throws(() => validate(ollamaBadAuth, 'test'), (err: unknown) => err instanceof ConfigError && err.problems.includes('instances.o.authentication.api_key: required'));
  });
});
