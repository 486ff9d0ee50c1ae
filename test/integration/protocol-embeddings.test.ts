import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { AwsAccounts } from '../emulators/aws-accounts.js';
import { AzureOpenAIEmulator } from '../emulators/azure-openai.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import type { Emulator, RecordedRequest } from '../emulators/base.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { WatsonxEmulator } from '../emulators/watsonx.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const OPENAI_KEY = 'sk-provider-embeddings-0123456789';
const AZURE_KEY = 'azure-provider-embeddings-0123456789';
const TITAN = 'amazon.titan-embed-text-v2:0';
process.env['PROTO_EMBED_OPENAI_KEY'] = OPENAI_KEY;
process.env['PROTO_EMBED_AZURE_KEY'] = AZURE_KEY;
const VERTEX_TOKEN = 'ya29.a0-vertex-embeddings-token';
const VERTEX_MODEL = 'text-embedding-005';
const WATSONX_TOKEN = 'eyJraWQiOiJlbWJlZGRpbmdzIn0.iam-token';
const WATSONX_MODEL = 'ibm/granite-embedding-278m-multilingual';
const WATSONX_PROJECT = 'c7b9e3a0-embed-project';
process.env['PROTO_EMBED_VERTEX_TOKEN'] = VERTEX_TOKEN;
process.env['PROTO_EMBED_WATSONX_TOKEN'] = WATSONX_TOKEN;

/** One provider as this suite drives it. */
interface Case {
  instance: string;
  /** `model_aliases` entry pointing at the instance. */
  alias: string;
  /** The provider model id clients name on `/openai/{instance}`. */
  model: string;
  /** The embedding the emulator answers for "hello" (float32-rounded when it travelled as base64). */
  embedding: number[] | ((length: number) => void);
  emulator(): Emulator;
  /** Checks what reached the provider. */
  upstream(last: RecordedRequest): void;
}

const float32 = (values: number[]) => Array.from(new Float32Array(values));

describe('protocol mode, embeddings: the OpenAI SDK through /openai/{instance} and /v1/embeddings', () => {
  const accounts = new AwsAccounts();
  let openaiEmu: OpenAIEmulator;
  let azure: AzureOpenAIEmulator;
  let bedrock: BedrockEmulator;
  let vertex: VertexEmulator;
  let wx: WatsonxEmulator;
  let gw: TestGateway;
  let key: string;

  before(async () => {
    const user = accounts.addUser('gateway');
    process.env['PROTO_EMBED_BEDROCK_SECRET'] = user.secretAccessKey;
    openaiEmu = await new OpenAIEmulator([OPENAI_KEY]).start();
    azure = await new AzureOpenAIEmulator([AZURE_KEY], { 'embed-prod': 'text-embedding-3-small' }).start();
    bedrock = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
    vertex = await new VertexEmulator([VERTEX_TOKEN], { project: 'embed-project', location: 'us-central1' }).start();
    wx = await new WatsonxEmulator([WATSONX_TOKEN], { projects: [WATSONX_PROJECT] }).start();
    gw = await startGateway({
      instances: {
        oai: { type: 'openai', endpoint: openaiEmu.url, authentication: { type: 'api_key', api_key: '${env:PROTO_EMBED_OPENAI_KEY}' } },
        az: { type: 'azure', endpoint: azure.url, deployments: { 'text-embedding-3-small': 'embed-prod' }, authentication: { type: 'api_key', api_key: '${env:PROTO_EMBED_AZURE_KEY}' } },
        br: {
          type: 'bedrock',
          region: 'us-east-1',
          endpoint: bedrock.url,
          control_endpoint: bedrock.url,
          authentication: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:PROTO_EMBED_BEDROCK_SECRET}' },
        },
        vtx: { type: 'vertex', project: 'embed-project', location: 'us-central1', endpoint: vertex.url, authentication: { type: 'access_token', token: '${env:PROTO_EMBED_VERTEX_TOKEN}' } },
        wx: { type: 'watsonx', region: 'us-south', endpoint: wx.url, project_id: WATSONX_PROJECT, authentication: { type: 'bearer_token', token: '${env:PROTO_EMBED_WATSONX_TOKEN}' } },
        demo: { type: 'demo' },
        grok: { type: 'xai', endpoint: openaiEmu.url, authentication: { type: 'api_key', api_key: '${env:PROTO_EMBED_OPENAI_KEY}' } },
      },
      model_aliases: { 'embed-small': 'oai/text-embedding-3-small', 'azure-embed': 'az/text-embedding-3-small', titan: `br/${TITAN}`, 'vertex-embed': `vtx/${VERTEX_MODEL}`, 'granite-embed': `wx/${WATSONX_MODEL}` },
    });
    key = await gw.key({ name: 'protocol-embeddings' });
  });
  after(async () => {
    await gw.close();
    await Promise.all([openaiEmu.close(), azure.close(), bedrock.close(), vertex.close(), wx.close()]);
  });

  const client = (baseURL: string, apiKey = key) => new OpenAI({ apiKey, baseURL, maxRetries: 0 });

  const CASES: Case[] = [
    {
      instance: 'oai',
      alias: 'embed-small',
      model: 'text-embedding-3-small',
      embedding: [0.1, -0.2, 0.3],
      emulator: () => openaiEmu,
      upstream(last) {
        assert.equal(last.path, '/v1/embeddings');
        assert.equal(last.headers.authorization, `Bearer ${OPENAI_KEY}`);
        assert.equal(JSON.parse(last.body.toString('utf8')).model, 'text-embedding-3-small');
      },
    },
    {
      instance: 'az',
      alias: 'azure-embed',
      model: 'text-embedding-3-small',
      embedding: [0.1, -0.2, 0.3],
      emulator: () => azure,
      upstream(last) {
        assert.equal(last.path, '/openai/deployments/embed-prod/embeddings');
        assert.equal(last.query, 'api-version=2024-10-21');
        assert.equal(last.headers['api-key'], AZURE_KEY);
      },
    },
    {
      instance: 'br',
      alias: 'titan',
      model: TITAN,
      // The emulator's Titan vectors have the requested (or default 1024) dimensions.
      embedding: (length) => assert.equal(length, 1024),
      emulator: () => bedrock,
      upstream(last) {
        assert.equal(last.path, `/model/${encodeURIComponent(TITAN)}/invoke`);
        assert.equal(bedrock.last.caller?.scheme, 'sigv4');
        assert.deepEqual(JSON.parse(last.body.toString('utf8')), { inputText: 'hello' });
      },
    },
    {
      instance: 'vtx',
      alias: 'vertex-embed',
      model: VERTEX_MODEL,
      // The emulator's vectors: 0.1, -0.2, 0.3, then zeros up to its default size.
      embedding: (length) => assert.equal(length, VertexEmulator.EMBEDDING_SIZE),
      emulator: () => vertex,
      upstream(last) {
        assert.equal(last.path, `/v1/projects/embed-project/locations/us-central1/publishers/google/models/${VERTEX_MODEL}:predict`);
        assert.equal(last.headers.authorization, `Bearer ${VERTEX_TOKEN}`);
        assert.deepEqual(JSON.parse(last.body.toString('utf8')), { instances: [{ content: 'hello' }] });
      },
    },
    {
      instance: 'wx',
      alias: 'granite-embed',
      model: WATSONX_MODEL,
      embedding: [0.1, -0.2, 0.3],
      emulator: () => wx,
      upstream(last) {
        assert.equal(last.path, '/ml/v1/text/embeddings');
        assert.match(last.query, /^version=\d{4}-\d{2}-\d{2}$/);
        assert.equal(last.headers.authorization, `Bearer ${WATSONX_TOKEN}`);
        assert.deepEqual(JSON.parse(last.body.toString('utf8')), { model_id: WATSONX_MODEL, inputs: ['hello'], project_id: WATSONX_PROJECT });
      },
    },
  ];

  for (const c of CASES) {
    describe(c.instance, () => {
      test("through /openai/{instance} with the SDK's default (base64, decoded by the SDK)", async () => {
        const emu = c.emulator();
        emu.reset();
        const out = await client(`${gw.url}/openai/${c.instance}`).embeddings.create({ model: c.model, input: 'hello' });
        assert.equal(out.object, 'list');
        assert.equal(out.data.length, 1);
        const vector = out.data[0]!.embedding;
        if (typeof c.embedding === 'function') c.embedding(vector.length);
        else assert.deepEqual(vector, float32(c.embedding));
        assert.ok(out.usage.prompt_tokens > 0);
        c.upstream(emu.last);
        const upstream = JSON.stringify(emu.last.headers) + emu.last.body.toString('utf8') + emu.last.query;
        assert.ok(!upstream.includes(key), 'the gateway key reached the provider');
      });

      test('through /v1/embeddings with an alias and encoding_format float; input tokens accounted', async () => {
        const out = await client(`${gw.url}/v1`).embeddings.create({ model: c.alias, input: ['hello'], encoding_format: 'float' });
        const vector = out.data[0]!.embedding;
        assert.ok(Array.isArray(vector));
        if (typeof c.embedding === 'function') c.embedding(vector.length);
        else assert.deepEqual(vector, c.embedding);
        await gw.settle();
        const metrics = await (await fetch(`${gw.url}/metrics`)).text();
        assert.match(metrics, new RegExp(`llmproxy_tokens_total\\{instance="${c.instance}",model="${c.model.replaceAll('.', '\\.')}",direction="input"\\} [1-9]`));
      });
    });
  }

  test('the built-in demo embeds with demo-embed, base64 included', async () => {
    const out = await client(`${gw.url}/openai/demo`).embeddings.create({ model: 'demo-embed', input: ['a', 'b'] });
    assert.deepEqual(out.data.map((d) => [d.index, d.embedding.length]), [[0, 8], [1, 8]]);
  });

  test('raw base64 from the gateway is little-endian float32, as OpenAI sends it', async () => {
    const raw = await fetch(`${gw.url}/openai/az/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'text-embedding-3-small', input: ['a', 'b'], encoding_format: 'base64' }) });
    assert.equal(raw.status, 200);
    const body = (await raw.json()) as { data: Array<{ index: number; embedding: string }> };
    assert.deepEqual(body.data.map((d) => d.index), [0, 1]);
    const buf = Buffer.from(body.data[1]!.embedding, 'base64');
    assert.deepEqual([0, 1, 2].map((i) => buf.readFloatLE(i * 4)), float32([0.1, -0.2, 0.3]));
  });

  test('Bedrock Titan: dimensions pass through; several inputs and token ids are refused before any call', async () => {
    bedrock.reset();
    const out = await client(`${gw.url}/v1`).embeddings.create({ model: 'titan', input: 'hello', dimensions: 256 });
    assert.equal(out.data[0]!.embedding.length, 256);
    assert.equal(JSON.parse(bedrock.last.body.toString('utf8')).dimensions, 256);
    const calls = bedrock.requests.length;
    await assert.rejects(client(`${gw.url}/v1`).embeddings.create({ model: 'titan', input: ['a', 'b'] }), (err: InstanceType<typeof OpenAI.BadRequestError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /one input per request/);
      return true;
    });
    await assert.rejects(client(`${gw.url}/v1`).embeddings.create({ model: 'titan', input: [1, 2, 3] }), { status: 400 });
    assert.equal(bedrock.requests.length, calls);
  });

  test('Vertex AI: an array is one batched :predict; dimensions become outputDimensionality; its 400 keeps its message', async () => {
    vertex.reset();
    const out = await client(`${gw.url}/v1`).embeddings.create({ model: 'vertex-embed', input: ['one', 'two words', 'three more words'], dimensions: 8 });
    assert.deepEqual(out.data.map((d) => [d.index, d.embedding.length]), [[0, 8], [1, 8], [2, 8]]);
    assert.deepEqual(out.data[2]!.embedding.slice(0, 3), float32([0.1, -0.2, 0.3]));
    assert.equal(out.usage.prompt_tokens, 6);
    assert.equal(vertex.requests.length, 1);
    assert.deepEqual(JSON.parse(vertex.last.body.toString('utf8')), {
      instances: [{ content: 'one' }, { content: 'two words' }, { content: 'three more words' }],
      parameters: { outputDimensionality: 8 },
    });
    await assert.rejects(client(`${gw.url}/openai/vtx`).embeddings.create({ model: VERTEX_MODEL, input: 'hello', dimensions: 5000 }), (err: InstanceType<typeof OpenAI.BadRequestError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /vtx: INVALID_ARGUMENT: outputDimensionality 5000 is not supported/);
      return true;
    });
    const calls = vertex.requests.length;
    await assert.rejects(client(`${gw.url}/openai/vtx`).embeddings.create({ model: VERTEX_MODEL, input: [1, 2, 3] }), { status: 400 });
    assert.equal(vertex.requests.length, calls);
  });

  test('watsonx: an array is one batch in the instance project; dimensions and token ids are refused before any call', async () => {
    wx.reset();
    const out = await client(`${gw.url}/openai/wx`).embeddings.create({ model: WATSONX_MODEL, input: ['a', 'b'], encoding_format: 'float' });
    assert.deepEqual(out.data.map((d) => [d.index, d.embedding]), [[0, [0.1, -0.2, 0.3]], [1, [0.1, -0.2, 0.3]]]);
    assert.equal(out.usage.prompt_tokens, 8);
    assert.deepEqual(JSON.parse(wx.last.body.toString('utf8')).inputs, ['a', 'b']);
    const calls = wx.requests.length;
    await assert.rejects(client(`${gw.url}/v1`).embeddings.create({ model: 'granite-embed', input: 'hello', dimensions: 256 }), (err: InstanceType<typeof OpenAI.BadRequestError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /"dimensions" is not supported/);
      return true;
    });
    await assert.rejects(client(`${gw.url}/v1`).embeddings.create({ model: 'granite-embed', input: [[1, 2]] }), { status: 400 });
    assert.equal(wx.requests.length, calls);
  });

  test('key scopes apply to the provider model an alias resolves to, and to the instance', async () => {
    const scoped = await gw.key({ name: 'titan-only', scopes: { instances: ['br'], models: [TITAN] } });
    await client(`${gw.url}/v1`, scoped).embeddings.create({ model: 'titan', input: 'hello' });
    await assert.rejects(client(`${gw.url}/v1`, scoped).embeddings.create({ model: 'embed-small', input: 'hello' }), { status: 403 });
    await assert.rejects(client(`${gw.url}/openai/oai`, scoped).embeddings.create({ model: 'text-embedding-3-small', input: 'hello' }), { status: 403 });
  });

  test('provider errors become OpenAI errors: a 400 keeps its message, Bedrock throttling is 429', async () => {
    openaiEmu.reset();
    openaiEmu.inject({ status: 400, body: { error: { message: 'This model does not support specifying dimensions.', type: 'invalid_request_error' } } });
    await assert.rejects(client(`${gw.url}/openai/oai`).embeddings.create({ model: 'text-embedding-ada-002', input: 'hello', dimensions: 8 }), (err: InstanceType<typeof OpenAI.BadRequestError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /oai: This model does not support specifying dimensions/);
      return true;
    });
    bedrock.injectError('ThrottlingException');
    await assert.rejects(client(`${gw.url}/v1`).embeddings.create({ model: 'titan', input: 'hello' }), { status: 429 });
    bedrock.reset();
  });

  test('an instance without embeddings, and bad input, are 400s naming the problem', async () => {
    const post = (path: string, body: unknown) => fetch(`${gw.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const noEmbeddings = await post('/openai/grok/embeddings', { model: 'grok-4', input: 'hello' });
    assert.equal(noEmbeddings.status, 400);
    const error = ((await noEmbeddings.json()) as { error: { message: string; code: string } }).error;
    assert.match(error.message, /instance "grok" \(xai\) does not offer OpenAI embeddings/);
    assert.equal(error.code, 'invalid_request');
    for (const body of [{ model: 'embed-small' }, { model: 'embed-small', input: [] }, { model: 'embed-small', input: 'x', encoding_format: 'hex' }, { model: 'embed-small', input: 'x', dimensions: 0 }]) {
      const res = await post('/v1/embeddings', body);
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    assert.equal((await fetch(`${gw.url}/openai/oai/embeddings`, { headers: { authorization: `Bearer ${key}` } })).status, 404);
  });
});
