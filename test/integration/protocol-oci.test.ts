import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { OciEmulator, ociError } from '../emulators/oci.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const TENANCY = 'ocid1.tenancy.oc1..aaaaaaaatenancy0000000000000000000000000000000000000000';
const USER = 'ocid1.user.oc1..aaaaaaaauser000000000000000000000000000000000000000000000';
const FINGERPRINT = '20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34';
const KEY_ID = `${TENANCY}/${USER}/${FINGERPRINT}`;
const ROGUE_FINGERPRINT = 'aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99';
const COMPARTMENT = 'ocid1.compartment.oc1..aaaaaaaaours000000000000000000000000000000000000000000';
const OTHER_COMPARTMENT = 'ocid1.compartment.oc1..aaaaaaaaother00000000000000000000000000000000000000000';
const UNKNOWN_COMPARTMENT = 'ocid1.compartment.oc1..aaaaaaaaunknown000000000000000000000000000000000000000';
const LLAMA = 'meta.llama-3.3-70b-instruct';
const COHERE = 'cohere.command-r-plus-08-2024';
const REPLY = OciEmulator.REPLY.join('');

function rsaKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

describe('oci: the OpenAI SDK through /openai/{instance} and /v1, and transparent mode', () => {
  let emu: OciEmulator;
  let gw: TestGateway;
  let key: string;
  let dir: string;

  before(async () => {
    const ours = rsaKey();
    const rogue = rsaKey(); // a key OCI knows under another keyId than the one it signs for
    dir = mkdtempSync(join(tmpdir(), 'llmproxy-oci-'));
    const pem = join(dir, 'oci_api_key.pem');
    writeFileSync(pem, ours.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const roguePem = join(dir, 'rogue.pem');
    writeFileSync(roguePem, rogue.privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
    // The key may use two compartments: a client must still only reach the instance's.
    emu = await new OciEmulator(new Map([[KEY_ID, ours.publicKey], [`${TENANCY}/${USER}/${ROGUE_FINGERPRINT}`, ours.publicKey]]), [COMPARTMENT, OTHER_COMPARTMENT]).start();
    const auth = { type: 'api_key', tenancy: TENANCY, user: USER, fingerprint: FINGERPRINT, private_key: `\${file:${pem}}` };
    gw = await startGateway({
      instances: {
        oci: { type: 'oci', region: 'us-chicago-1', endpoint: emu.url, compartment_id: COMPARTMENT, timeouts: { idle: '400ms' }, authentication: auth },
        ocinowhere: { type: 'oci', region: 'us-chicago-1', endpoint: emu.url, compartment_id: UNKNOWN_COMPARTMENT, authentication: auth },
        ocirogue: { type: 'oci', region: 'us-chicago-1', endpoint: emu.url, compartment_id: COMPARTMENT, authentication: { ...auth, fingerprint: ROGUE_FINGERPRINT, private_key: `\${file:${roguePem}}` } },
      },
      model_aliases: { llama: `oci/${LLAMA}` },
    });
    key = await gw.key({ name: 'oci' });
  });
  after(async () => {
    await gw.close();
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (baseURL: string, apiKey = key) => new OpenAI({ apiKey, baseURL, maxRetries: 0 });
  const sentBody = () => JSON.parse(emu.last.body.toString('utf8')) as Record<string, unknown>;
  const hi = [{ role: 'user' as const, content: 'hi' }];

  test('chat completion (GENERIC) through /openai/{instance}: signed, compartment and serving mode added, answer in OpenAI shape', async () => {
    emu.reset();
    const { data, response } = await client(`${gw.url}/openai/oci`)
      .chat.completions.create({ model: LLAMA, messages: [{ role: 'system', content: 'Be brief.' }, ...hi], temperature: 0.2, max_tokens: 50, stop: 'END', user: 'u-1' })
      .withResponse();
    assert.equal(data.choices[0]?.message.content, REPLY);
    assert.equal(data.choices[0]?.finish_reason, 'stop');
    assert.equal(data.model, LLAMA);
    assert.deepEqual(data.usage, { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 });
    assert.equal(response.headers.get('x-llmproxy-dropped-params'), 'user');

    assert.equal(emu.last.path, '/20231130/actions/chat');
    const authorization = String(emu.last.headers.authorization);
    assert.ok(authorization.startsWith(`Signature version="1",headers="date (request-target) host content-length content-type x-content-sha256",keyId="${KEY_ID}",algorithm="rsa-sha256",signature="`), authorization);
    assert.ok(!JSON.stringify(emu.last.headers).includes(key), 'the gateway key never reaches OCI');
    assert.deepEqual(sentBody(), {
      compartmentId: COMPARTMENT,
      servingMode: { servingType: 'ON_DEMAND', modelId: LLAMA },
      chatRequest: {
        apiFormat: 'GENERIC',
        messages: [{ role: 'SYSTEM', content: [{ type: 'TEXT', text: 'Be brief.' }] }, { role: 'USER', content: [{ type: 'TEXT', text: 'hi' }] }],
        temperature: 0.2,
        maxTokens: 50,
        stop: ['END'],
      },
    });
  });

  test('streaming (GENERIC) with include_usage through /v1 and an alias', async () => {
    emu.reset();
    const stream = await client(`${gw.url}/v1`).chat.completions.create({ model: 'llama', stream: true, stream_options: { include_usage: true }, messages: hi });
    const text: string[] = [];
    const finishes: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text.push(chunk.choices[0]?.delta.content ?? '');
      if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
      if (chunk.usage) usage = chunk.usage;
      assert.equal(chunk.model, LLAMA);
    }
    assert.equal(text.join(''), REPLY);
    assert.deepEqual(finishes, ['stop']);
    assert.deepEqual(usage, { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 });
    const chat = sentBody()['chatRequest'] as Record<string, unknown>;
    assert.equal(chat['isStream'], true);
    assert.deepEqual(chat['streamOptions'], { isIncludeUsage: true });
  });

  test('a cohere.* model speaks the COHERE format: preamble, history and message; JSON and stream', async () => {
    emu.reset();
    const c = client(`${gw.url}/openai/oci`);
    const out = await c.chat.completions.create({
      model: COHERE,
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello' }, { role: 'assistant', content: 'hi there' }, { role: 'user', content: 'how are you?' }],
      max_completion_tokens: 40,
      stop: ['END'],
    });
    assert.equal(out.choices[0]?.message.content, REPLY);
    assert.equal(out.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(out.usage, { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 });
    assert.deepEqual(sentBody()['chatRequest'], {
      apiFormat: 'COHERE',
      message: 'how are you?',
      chatHistory: [{ role: 'USER', message: 'hello' }, { role: 'CHATBOT', message: 'hi there' }],
      preambleOverride: 'Be brief.',
      maxTokens: 40,
      stopSequences: ['END'],
    });

    const stream = await c.chat.completions.create({ model: COHERE, stream: true, messages: hi });
    const text: string[] = [];
    const finishes: string[] = [];
    for await (const chunk of stream) {
      text.push(chunk.choices[0]?.delta.content ?? '');
      if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
    }
    assert.equal(text.join(''), REPLY, 'the last event\'s repeat of the whole text is not sent again');
    assert.deepEqual(finishes, ['stop']);

    await assert.rejects(c.chat.completions.create({ model: COHERE, messages: hi, n: 2 }), { status: 400 });
  });

  test('tool calling (GENERIC): a tool call, then the tool result round trip; JSON and stream', async () => {
    emu.reset();
    const c = client(`${gw.url}/openai/oci`);
    const weather = { type: 'function' as const, function: { name: 'get_weather', description: 'Current weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
    const ask: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const first = await c.chat.completions.create({ model: LLAMA, messages: ask, tools: [weather], tool_choice: 'auto' });
    const call = first.choices[0]?.message.tool_calls?.[0];
    assert.equal(first.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(first.choices[0]?.message.content, null);
    assert.ok(call && call.type === 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    const sent = sentBody()['chatRequest'] as Record<string, unknown>;
    assert.deepEqual(sent['tools'], [{ type: 'FUNCTION', name: 'get_weather', description: 'Current weather of a city', parameters: weather.function.parameters }]);
    assert.deepEqual(sent['toolChoice'], { type: 'AUTO' });

    const followUp: OpenAI.ChatCompletionMessageParam[] = [...ask, first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: '21°C, sunny' }];
    const second = await c.chat.completions.create({ model: LLAMA, messages: followUp, tools: [weather] });
    assert.equal(second.choices[0]?.message.content, 'Tool said: 21°C, sunny');
    assert.equal(second.choices[0]?.finish_reason, 'stop');
    const messages = (sentBody()['chatRequest'] as { messages: unknown[] }).messages;
    assert.deepEqual(messages.slice(1), [
      { role: 'ASSISTANT', content: null, toolCalls: [{ type: 'FUNCTION', id: call.id, name: 'get_weather', arguments: call.function.arguments }] },
      { role: 'TOOL', toolCallId: call.id, content: [{ type: 'TEXT', text: '21°C, sunny' }] },
    ]);

    // Streamed: the SDK's helper reassembles the tool call from the deltas.
    const stream = c.chat.completions.stream({ model: LLAMA, messages: ask, tools: [weather] });
    const final = await stream.finalChatCompletion();
    const streamed = final.choices[0]?.message.tool_calls?.[0];
    assert.equal(final.choices[0]?.finish_reason, 'tool_calls');
    assert.ok(streamed && streamed.type === 'function');
    assert.equal(streamed.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(streamed.function.arguments), { city: 'Paris' });
    assert.match(streamed.id, /^call_/);
  });

  test('errors: 429 keeps OCI\'s message; unknown compartment 404; a refused parameter never leaves; a rejected signature is 502', async () => {
    emu.reset();
    emu.inject({ status: 429, body: ociError('TooManyRequests', 'User-rate limit exceeded.'), headers: { 'retry-after': '7' } });
    const raw = await fetch(`${gw.url}/openai/oci/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: LLAMA, messages: hi }) });
    assert.equal(raw.status, 429);
    const body = (await raw.json()) as { error: { message: string; code: string } };
    assert.equal(body.error.code, 'upstream_rate_limited');
    assert.match(body.error.message, /User-rate limit exceeded\. \(TooManyRequests\)/);

    await assert.rejects(client(`${gw.url}/openai/ocinowhere`).chat.completions.create({ model: LLAMA, messages: hi }), (err: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(err.status, 404);
      assert.match(err.message, /NotAuthorizedOrNotFound/);
      return true;
    });

    const before = emu.requests.length;
    const weather = { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object' } } };
    await assert.rejects(client(`${gw.url}/openai/oci`).chat.completions.create({ model: COHERE, messages: hi, tools: [weather] }), (err: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /tools are not translated for Cohere models/);
      return true;
    });
    assert.equal(emu.requests.length, before, 'nothing reached OCI');

    await assert.rejects(client(`${gw.url}/openai/ocirogue`).chat.completions.create({ model: LLAMA, messages: hi }), (err: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(err.status, 502);
      assert.equal(err.code, 'upstream_credential_rejected');
      return true;
    });
  });

  test('a stream without a finishReason ends in an SSE error the SDK raises', async () => {
    emu.reset();
    const stream = await client(`${gw.url}/openai/oci`).chat.completions.create({ model: 'emulator-no-finish', stream: true, messages: hi });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
      })(),
      /OCI stream ended before choice 0 finished/,
    );
    assert.equal(seen.join(''), REPLY, 'chunks before the failure were delivered');
  });

  test('transparent mode: the configured compartment works (and is filled in); another compartment is 403', async () => {
    emu.reset();
    const post = (body: unknown) =>
      fetch(`${gw.url}/transparent/oci/20231130/actions/chat`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const chatRequest = { apiFormat: 'GENERIC', messages: [{ role: 'USER', content: [{ type: 'TEXT', text: 'hi' }] }] };
    const servingMode = { servingType: 'ON_DEMAND', modelId: LLAMA };

    const ok = await post({ compartmentId: COMPARTMENT, servingMode, chatRequest });
    assert.equal(ok.status, 200);
    const result = (await ok.json()) as { modelId: string; chatResponse: { choices: Array<{ message: { content: Array<{ text: string }> } }> } };
    assert.equal(result.chatResponse.choices[0]?.message.content[0]?.text, REPLY);
    assert.ok(String(emu.last.headers.authorization).includes(`keyId="${KEY_ID}"`));

    const filled = await post({ servingMode, chatRequest });
    assert.equal(filled.status, 200);
    assert.equal(sentBody()['compartmentId'], COMPARTMENT);

    const before = emu.requests.length;
    const denied = await post({ compartmentId: OTHER_COMPARTMENT, servingMode, chatRequest });
    assert.equal(denied.status, 403);
    assert.equal(emu.requests.length, before, 'nothing reached OCI');

    const embed = await fetch(`${gw.url}/transparent/oci/20231130/actions/embedText`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: ['a', 'b'], servingMode: { servingType: 'ON_DEMAND', modelId: 'cohere.embed-english-v3.0' } }),
    });
    assert.equal(embed.status, 200);
    assert.equal(((await embed.json()) as { embeddings: unknown[] }).embeddings.length, 2);

    const count = emu.requests.length;
    const other = await fetch(`${gw.url}/transparent/oci/20231130/models`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(other.status, 403, 'a route outside the allowlist is refused by the gateway');
    assert.equal(emu.requests.length, count);
  });

  test('transparent mode: key model scopes read servingMode.modelId', async () => {
    const scoped = await gw.key({ name: 'llama-only', scopes: { instances: null, models: [LLAMA] } });
    const post = (modelId: string) =>
      fetch(`${gw.url}/transparent/oci/20231130/actions/chat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${scoped}`, 'content-type': 'application/json' },
        body: JSON.stringify({ compartmentId: COMPARTMENT, servingMode: { servingType: 'ON_DEMAND', modelId }, chatRequest: { apiFormat: 'GENERIC', messages: [{ role: 'USER', content: [{ type: 'TEXT', text: 'hi' }] }] } }),
      });
    assert.equal((await post(LLAMA)).status, 200);
    const before = emu.requests.length;
    const denied = await post('cohere.command-r-plus');
    assert.equal(denied.status, 403);
    assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'model_not_in_scope');
    assert.equal(emu.requests.length, before);
  });
});
