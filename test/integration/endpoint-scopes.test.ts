import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Endpoint scopes (`--endpoints chat,embeddings,models`) on keys and users, enforced on protocol
 * and transparent routes alike, set through the CLI and the admin API. Issue 17, item 9.
 */

const OPENAI_KEY = 'sk-provider-endpoint-scopes-7c1e9a0b3d5f';
const ANTHROPIC_KEY = 'sk-ant-provider-endpoint-scopes-2b8d4f6a';
process.env['ENDPOINT_SCOPES_OPENAI_KEY'] = OPENAI_KEY;
process.env['ENDPOINT_SCOPES_ANTHROPIC_KEY'] = ANTHROPIC_KEY;

interface ErrorBody {
  error: { code?: string; message: string; type: string };
}

describe('endpoint scopes on keys and users', () => {
  let openaiEmu: OpenAIEmulator;
  let anthropicEmu: AnthropicEmulator;
  let gw: TestGateway;
  let admin: string;

  before(async () => {
    openaiEmu = await new OpenAIEmulator([OPENAI_KEY]).start();
    anthropicEmu = await new AnthropicEmulator([ANTHROPIC_KEY]).start();
    gw = await startGateway({
      auth: { basic: { enabled: true, change_poll: '100ms' } },
      instances: {
        openai: {
          type: 'openai',
          endpoint: openaiEmu.url,
          authentication: { type: 'api_key', api_key: '${env:ENDPOINT_SCOPES_OPENAI_KEY}' },
          // Opened by the operator, mapped to no endpoint.
          allow_paths: ['GET v1/organization/costs'],
        },
        claude: { type: 'anthropic', endpoint: anthropicEmu.url, authentication: { type: 'api_key', api_key: '${env:ENDPOINT_SCOPES_ANTHROPIC_KEY}' } },
      },
      model_aliases: { mini: 'openai/gpt-4o-mini', sonnet: 'claude/claude-sonnet-4-5' },
    });
    admin = await gw.key({ name: 'admin', role: 'admin' });
  });
  after(async () => {
    await gw.close();
    await anthropicEmu.close();
    await openaiEmu.close();
  });

  async function adminPost(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${gw.url}/admin/v1/${path}`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  async function call(headers: Record<string, string>, path: string, body?: unknown): Promise<{ status: number; body: ErrorBody & Record<string, unknown> }> {
    const res = await fetch(gw.url + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as ErrorBody & Record<string, unknown> };
  }
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  const chatBody = (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }] });

  test('admin API: a key limited to chat and models is stored with its endpoints and enforced on protocol routes (OpenAI SDK)', async () => {
    const created = await adminPost('keys', { name: 'chat-only', endpoints: ['chat', 'models'] });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.deepEqual((created.json['scopes'] as { endpoints: unknown }).endpoints, ['chat', 'models']);
    const client = new OpenAI({ apiKey: created.json['key'] as string, baseURL: `${gw.url}/v1`, maxRetries: 0 });

    const completion = await client.chat.completions.create(chatBody('mini') as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.equal(completion.choices[0]?.message.content, OpenAIEmulator.REPLY.join(''));
    const models = await client.models.list();
    assert.ok(models.data.some((m) => m.id === 'mini'));

    openaiEmu.reset();
    const refused = await client.embeddings.create({ model: 'openai/text-embedding-3-small', input: 'x' }).catch((e: unknown) => e);
    assert.ok(refused instanceof OpenAI.PermissionDeniedError, `got ${String(refused)}`);
    assert.equal(refused.code, 'endpoint_not_in_scope');
    assert.match(refused.message, /"embeddings" endpoint/);
    const responses = await client.responses.create({ model: 'mini', input: 'hi' }).catch((e: unknown) => e);
    assert.ok(responses instanceof OpenAI.PermissionDeniedError);
    assert.equal(responses.code, 'endpoint_not_in_scope');
    const stored = await client.responses.retrieve('resp_0123456789abcdef').catch((e: unknown) => e);
    assert.ok(stored instanceof OpenAI.PermissionDeniedError, 'reading stored responses is the responses endpoint too');
    assert.equal(openaiEmu.requests.length, 0, 'refused requests never reach the provider');
  });

  test('transparent routes: each native path is mapped by its provider; an unmapped path is refused to a scoped key only', async () => {
    const k = await adminPost('keys', { name: 'embeddings-only', endpoints: ['embeddings'] });
    const key = k.json['key'] as string;
    openaiEmu.reset();
    assert.equal((await call(bearer(key), '/transparent/openai/v1/embeddings', { model: 'text-embedding-3-small', input: 'x' })).status, 200);
    const chat = await call(bearer(key), '/transparent/openai/v1/chat/completions', chatBody('gpt-4o'));
    assert.equal(chat.status, 403);
    assert.equal(chat.body.error.code, 'endpoint_not_in_scope');
    const models = await call(bearer(key), '/transparent/openai/v1/models');
    assert.equal(models.status, 403);
    const unmapped = await call(bearer(key), '/transparent/openai/v1/organization/costs');
    assert.equal(unmapped.status, 403);
    assert.equal(unmapped.body.error.code, 'endpoint_not_in_scope');
    assert.match(unmapped.body.error.message, /not mapped to an endpoint/);
    assert.equal(openaiEmu.requests.length, 1, 'only the embeddings call reached the provider');

    // A key without endpoint scopes reaches the operator's extra path.
    const open = await gw.key({ name: 'unscoped' });
    const res = await fetch(`${gw.url}/transparent/openai/v1/organization/costs`, { headers: bearer(open) });
    assert.notEqual(res.status, 403, 'an unscoped key is not refused by endpoint');
    await res.body?.cancel();
  });

  test('Anthropic: messages are the chat endpoint and count_tokens its own, on /anthropic/ and /transparent/ (Anthropic SDK)', async () => {
    const k = await adminPost('keys', { name: 'claude-count', endpoints: ['count_tokens'] });
    const key = k.json['key'] as string;
    const client = new Anthropic({ apiKey: key, baseURL: `${gw.url}/anthropic`, maxRetries: 0 });
    const counted = await client.messages.countTokens({ model: 'sonnet', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(counted.input_tokens > 0);
    const refused = await client.messages.create({ model: 'sonnet', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    assert.ok(refused instanceof Anthropic.PermissionDeniedError, `got ${String(refused)}`);
    assert.match(refused.message, /"chat" endpoint/);

    const transparent = new Anthropic({ apiKey: key, baseURL: `${gw.url}/transparent/claude`, maxRetries: 0 });
    assert.ok((await transparent.messages.countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] })).input_tokens > 0);
    const direct = await transparent.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    assert.ok(direct instanceof Anthropic.PermissionDeniedError, `got ${String(direct)}`);
  });

  test('admin API: unknown endpoint names are refused naming the field and the vocabulary', async () => {
    const bad = await adminPost('keys', { name: 'bad', endpoints: ['chat', 'messages'] });
    assert.equal(bad.status, 400);
    const message = (bad.json as unknown as ErrorBody).error.message;
    assert.match(message, /endpoints/);
    assert.match(message, /"messages" is not an endpoint \(known: chat, completions, embeddings, models, responses, count_tokens\); the Anthropic Messages API is "chat"/);
    const badUser = await adminPost('users', { name: 'eve', endpoints: ['images'] });
    assert.equal(badUser.status, 400);
  });

  test('users: endpoint scopes from the admin API apply to Basic credentials', async () => {
    const created = await adminPost('users', { name: 'carol', password: 'carol-password-1234', endpoints: ['models'] });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.deepEqual((created.json['scopes'] as { endpoints: unknown }).endpoints, ['models']);
    const basic = { authorization: `Basic ${Buffer.from('carol:carol-password-1234').toString('base64')}` };
    assert.equal((await call(basic, '/v1/models')).status, 200);
    const chat = await call(basic, '/v1/chat/completions', chatBody('mini'));
    assert.equal(chat.status, 403);
    assert.equal(chat.body.error.code, 'endpoint_not_in_scope');
  });

  test('CLI: keys create --endpoints and users create --endpoints store the scopes; a bad name is a usage error', async () => {
    const configPath = join(gw.dir, 'cli.yaml');
    writeFileSync(
      configPath,
      [
        `storage: { sqlite: { path: ${JSON.stringify(join(gw.dir, 'llmproxy.db'))} } }`,
        'instances:',
        `  openai: { type: openai, endpoint: ${JSON.stringify(openaiEmu.url)}, authentication: { type: api_key, api_key: "\${env:ENDPOINT_SCOPES_OPENAI_KEY}" } }`,
        '',
      ].join('\n'),
    );
    const cli = (...args: string[]) => runCli([...args, '--config', configPath], { cwd: gw.dir, env: { ENDPOINT_SCOPES_OPENAI_KEY: OPENAI_KEY } });
    const r = await cli('keys', 'create', '--name', 'cli-embed', '--endpoints', 'embeddings,models', '--json');
    assert.equal(r.code, 0, r.stderr);
    const key = JSON.parse(r.stdout) as { id: string; key: string; scopes: { endpoints: string[] } };
    assert.deepEqual(key.scopes.endpoints, ['embeddings', 'models']);
    const show = await cli('keys', 'show', key.id);
    assert.match(show.stdout, /^endpoints:\s+embeddings, models$/m);
    // The running gateway finds the key in the shared store and enforces its scopes.
    const client = new OpenAI({ apiKey: key.key, baseURL: `${gw.url}/openai/openai`, maxRetries: 0 });
    assert.equal((await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' })).data.length, 1);
    const refused = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    assert.ok(refused instanceof OpenAI.PermissionDeniedError);

    const bad = await cli('keys', 'create', '--name', 'cli-bad', '--endpoints', 'chat,embedding');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /"embedding" is not an endpoint .*write "embeddings"/);

    const user = await cli('users', 'create', 'dave', '--endpoints', 'chat', '--json');
    assert.equal(user.code, 0, user.stderr);
    assert.deepEqual((JSON.parse(user.stdout) as { scopes: { endpoints: string[] } }).scopes.endpoints, ['chat']);
    const badUser = await cli('users', 'create', 'erin', '--endpoints', 'images');
    assert.notEqual(badUser.code, 0);
    assert.match(badUser.stderr, /--endpoints: "images" is not an endpoint/);
  });
});
