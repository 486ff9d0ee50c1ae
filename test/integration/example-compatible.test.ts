import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { ExampleCompatibleEmulator } from '../emulators/example-compatible.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const EXAMPLE_KEY = 'example-provider-key-0123456789abcdef';
process.env['EXAMPLE_COMPAT_KEY'] = EXAMPLE_KEY;

describe('example-compatible: a provider defined by the OpenAI-compatible base, through the gateway with the openai SDK', () => {
  let emu: ExampleCompatibleEmulator;
  let gw: TestGateway;
  let key: string;

  before(async () => {
    emu = await new ExampleCompatibleEmulator([EXAMPLE_KEY]).start();
    gw = await startGateway({ instances: { ex: { type: 'example-compatible', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${env:EXAMPLE_COMPAT_KEY}' } } } });
    key = await gw.key({ name: 'example' });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  const client = () => new OpenAI({ apiKey: key, baseURL: `${gw.url}/openai/ex`, maxRetries: 0 });

  test('chat: the renamed cap and the dropped seed reach the provider as it reads them; the answer and usage come back', async () => {
    emu.reset();
    const res = await client().chat.completions.create({ model: 'example-1', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 32, seed: 7 }).withResponse();
    assert.equal(res.data.choices[0]?.message.content, ExampleCompatibleEmulator.REPLY.join(''));
    assert.equal(res.response.headers.get('x-llmproxy-dropped-params'), 'seed');
    const sent = JSON.parse(emu.last.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(sent['max_tokens'], 32);
    assert.equal('max_completion_tokens' in sent || 'seed' in sent, false);
    assert.equal(emu.last.headers.authorization, `Bearer ${EXAMPLE_KEY}`);
  });

  test('streaming with usage', async () => {
    const stream = await client().chat.completions.create({ model: 'example-1', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, ExampleCompatibleEmulator.REPLY.join(''));
    assert.ok(usage && usage.completion_tokens > 0);
  });

  test('an error in the provider\'s own shape reaches the client as an OpenAI error with its message', async () => {
    await assert.rejects(client().chat.completions.create({ model: 'missing-model', messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.APIError);
      assert.match(err.message, /model missing-model does not exist/);
      return true;
    });
  });

  test('transparent mode: the served routes only; embeddings are not offered', async () => {
    const models = await fetch(`${gw.url}/transparent/ex/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(models.status, 200);
    const embeddings = await fetch(`${gw.url}/transparent/ex/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"model":"m","input":"x"}' });
    assert.equal(embeddings.status, 403);
    await assert.rejects(client().embeddings.create({ model: 'example-embed', input: 'x' }));
  });
});
