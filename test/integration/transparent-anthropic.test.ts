import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-ant-provider-0123456789abcdef';

describe('transparent mode: Anthropic SDK through the gateway', () => {
  let emu: AnthropicEmulator;
  let gw: TestGateway;
  let key: string;
  let client: Anthropic;

  before(async () => {
    emu = await new AnthropicEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({
      instances: {
        claude: {
          type: 'anthropic',
          endpoint: emu.url,
          // A relative file reference resolves against the config folder (the gateway's temp dir).
          authentication: { type: 'api_key', api_key: '${file:anthropic.key}' },
        },
      },
    }, { dir: makeDirWithKey() });
    key = await gw.key({ name: 'anthropic-sdk' });
    // The Anthropic SDK sends the key in x-api-key, as it would to api.anthropic.com.
    client = new Anthropic({ apiKey: key, baseURL: `${gw.url}/transparent/claude`, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('messages: x-api-key swapped for the provider key, anthropic-version passed through', async () => {
    emu.reset();
    const msg = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(msg.content[0]?.type === 'text' ? msg.content[0].text : '', AnthropicEmulator.REPLY.join(''));
    assert.equal(emu.last.headers['x-api-key'], PROVIDER_KEY);
    assert.ok(typeof emu.last.headers['anthropic-version'] === 'string');
    assert.equal(emu.last.headers.authorization, undefined);
    assert.ok(!JSON.stringify(emu.last.headers).includes(key));
  });

  test('streamed messages arrive event by event with the final message assembled by the SDK', async () => {
    emu.reset();
    const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const final = await stream.finalMessage();
    assert.deepEqual(deltas, AnthropicEmulator.REPLY);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.output_tokens, AnthropicEmulator.REPLY.length);
  });

  test('count_tokens and models', async () => {
    const count = await client.messages.countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(count.input_tokens, 12);
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['claude-sonnet-4-5', 'claude-haiku-4-5']);
  });

  test('provider errors pass through in the provider format', async () => {
    await assert.rejects(
      client.messages.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] } as unknown as Anthropic.MessageCreateParamsNonStreaming),
      (err: unknown) => err instanceof Anthropic.BadRequestError && err.message.includes('max_tokens: Field required'),
    );
    emu.inject({ status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    await assert.rejects(client.models.list(), (err: unknown) => err instanceof Anthropic.APIError && err.status === 529);
  });

  test('anthropic-version: the version current SDKs send passes; one the API does not serve is refused as the API refuses it', async () => {
    emu.reset();
    await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(emu.last.headers['anthropic-version'], '2026-10-21', 'the SDK\'s version reached the API');
    for (const [version, status] of [['2023-06-01', 200], ['2023-01-01', 200], ['2099-01-01', 400]] as const) {
      const res = await fetch(`${gw.url}/transparent/claude/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'anthropic-version': version, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(res.status, status, version);
      if (status === 400) assert.match(((await res.json()) as { error: { message: string } }).error.message, /anthropic-version/);
    }
  });

  test('a mid-conversation role "system" turn (what Claude Code sends) reaches a model that takes it; an older model refuses it', async () => {
    emu.reset();
    const messages: Anthropic.MessageParam[] = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'system', content: 'The user switched to plan mode.' },
      { role: 'user', content: 'go on' },
    ];
    const msg = await client.messages.create({ model: 'claude-opus-4-8', max_tokens: 16, messages });
    assert.equal(msg.stop_reason, 'end_turn');
    assert.deepEqual((JSON.parse(emu.last.body.toString('utf8')) as { messages: unknown }).messages, messages, 'forwarded as sent');
    await assert.rejects(
      client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 16, messages }),
      (err: unknown) => err instanceof Anthropic.BadRequestError && err.message.includes("role 'system' is not supported on this model"),
    );
    // `clear_at` belongs to its beta.
    const clearing = [...messages.slice(0, 2), { role: 'system', content: 'Plan mode.', clear_at: 'next_user_message' }, messages[3]!] as Anthropic.MessageParam[];
    await assert.rejects(client.messages.create({ model: 'claude-opus-4-8', max_tokens: 16, messages: clearing }), Anthropic.BadRequestError);
    const beta = await client.messages.create({ model: 'claude-opus-4-8', max_tokens: 16, messages: clearing }, { headers: { 'anthropic-beta': 'mid-conversation-system-clear-at-2026-08-21' } });
    assert.equal(beta.stop_reason, 'end_turn');
    assert.equal(emu.last.headers['anthropic-beta'], 'mid-conversation-system-clear-at-2026-08-21');
  });

  test('admin routes behind the provider key are unreachable', async () => {
    emu.reset();
    for (const path of ['/v1/organizations/api_keys', '/v1/organizations/users', '/v1/files']) {
      const res = await fetch(`${gw.url}/transparent/claude${path}`, { headers: { 'x-api-key': key } });
      assert.equal(res.status, 403, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'path_not_allowed');
    }
    assert.equal(emu.requests.length, 0);
  });

  test('usage from streamed and JSON messages is counted per model', async () => {
    await gw.settle();
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    // 11 input tokens per message (message_start / usage), one JSON and one streamed call at least.
    const input = Number(/llmproxy_tokens_total\{instance="claude",model="claude-sonnet-4-5",direction="input"\} (\d+)/.exec(text)?.[1]);
    const output = Number(/llmproxy_tokens_total\{instance="claude",model="claude-sonnet-4-5",direction="output"\} (\d+)/.exec(text)?.[1]);
    assert.ok(input >= 22 && input % 11 === 0, `input tokens ${input}`);
    assert.ok(output >= 12 && output % 6 === 0, `output tokens ${output}`);
  });
});

function makeDirWithKey(): string {
  const dir = mkdtempSync(join(tmpdir(), 'llmproxy-anthropic-'));
  writeFileSync(join(dir, 'anthropic.key'), `${PROVIDER_KEY}\n`, { mode: 0o600 });
  return dir;
}
