import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { UNAUTHORIZED_MESSAGE } from '../../src/errors/gateway-error.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const TOKEN = 'ya29.a0-vertex-transparent-test-token';
const PROJECT = 'proj-transparent-1';
const LOCATION = 'us-east5';
const ANTHROPIC = `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/anthropic/models`;
const COUNT_TOKENS = `${ANTHROPIC}/count-tokens:rawPredict`;
const CLAUDE = 'claude-sonnet-4-5@20250929';

/**
 * `/transparent/{vertex instance}/...` as the clients that call Vertex natively use it: Claude
 * through the Anthropic publisher (what `@anthropic-ai/vertex-sdk` and Claude Code send), the
 * token counter, Google's error shape for the gateway's own errors, and express-mode paths.
 */
describe('transparent mode: Vertex native routes as real clients call them', () => {
  let emu: VertexEmulator;
  let gw: TestGateway;
  let key: string;

  before(async () => {
    emu = await new VertexEmulator([TOKEN], { project: PROJECT, location: LOCATION }).start();
    process.env['VERTEX_TRANSPARENT_TOKEN'] = TOKEN;
    gw = await startGateway({
      instances: {
        vtx: { type: 'vertex', project: PROJECT, location: LOCATION, endpoint: emu.url, authentication: { type: 'access_token', token: '${env:VERTEX_TRANSPARENT_TOKEN}' } },
      },
    });
    key = await gw.key({ name: 'vertex-transparent' });
  });
  after(async () => {
    await gw.close();
    await emu.close();
  });

  function post(path: string, body: unknown, apiKey = key): Promise<Response> {
    return fetch(`${gw.url}/transparent/vtx${path}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  type GoogleError = { error: { code: number; message: string; status: string; details: Array<Record<string, unknown>> } };

  describe('the gateway\'s own errors in Google\'s shape (google.rpc.Status)', () => {
    const GEMINI = `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-2.5-flash:generateContent`;
    const CONTENTS = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };

    test('a wrong gateway key: 401 UNAUTHENTICATED, the gateway\'s message, its code as the ErrorInfo reason', async () => {
      emu.reset();
      for (const instance of ['vtx', 'vertex']) {
        const res = await fetch(`${gw.url}/transparent/${instance}${GEMINI}`, { method: 'POST', headers: { 'x-goog-api-key': 'llmp_wrong_key_0123456789', 'content-type': 'application/json' }, body: JSON.stringify(CONTENTS) });
        assert.equal(res.status, 401);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        const body = (await res.json()) as GoogleError;
        assert.deepEqual(body, {
          error: {
            code: 401,
            message: UNAUTHORIZED_MESSAGE,
            status: 'UNAUTHENTICATED',
            details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'UNAUTHORIZED', domain: 'llm-proxy-auth' }],
          },
        });
      }
      assert.equal(emu.requests.length, 0);
    });

    test('a scope refusal: 403 PERMISSION_DENIED naming the model; no secret in the body', async () => {
      emu.reset();
      const claudeOnly = await gw.key({ name: 'claude-only-errors', scopes: { instances: null, models: ['claude-*'] } });
      const res = await post(GEMINI, CONTENTS, claudeOnly);
      assert.equal(res.status, 403);
      const text = await res.text();
      assert.ok(!text.includes(TOKEN) && !text.includes(claudeOnly), 'no secret in the error');
      const { error } = JSON.parse(text) as GoogleError;
      assert.deepEqual([error.code, error.status, error.message, error.details[0]!['reason']], [403, 'PERMISSION_DENIED', 'your key may not use model "gemini-2.5-flash"', 'MODEL_NOT_IN_SCOPE']);
      assert.equal(emu.requests.length, 0);
    });

    test('an unknown instance keeps OpenAI\'s shape', async () => {
      const res = await fetch(`${gw.url}/transparent/nope${GEMINI}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(CONTENTS) });
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unknown_instance');
    });
  });

  describe('express-mode paths (no project or location) are completed with the instance\'s', () => {
    const CONTENTS = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };
    const FULL = `/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-2.5-flash`;

    test('generateContent and streamGenerateContent, v1beta1 and v1, with the gateway key in x-goog-api-key', async () => {
      emu.reset();
      const express = (path: string) =>
        fetch(`${gw.url}/transparent/vtx${path}`, { method: 'POST', headers: { 'x-goog-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(CONTENTS) });
      const res = await express('/v1beta1/publishers/google/models/gemini-2.5-flash:generateContent');
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.equal((JSON.parse(text) as { candidates: Array<{ content: { parts: Array<{ text: string }> } }> }).candidates[0]!.content.parts[0]!.text, VertexEmulator.REPLY.join(''));
      assert.equal(emu.last.path, `/v1beta1${FULL}:generateContent`);
      assert.equal(emu.last.headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(emu.last.headers['x-goog-api-key'], undefined, 'the gateway key is not forwarded');

      const stream = await express('/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
      assert.equal(stream.status, 200);
      assert.equal((await stream.text()).split('data: ').length - 1, VertexEmulator.REPLY.length);
      assert.equal(emu.last.path, `/v1${FULL}:streamGenerateContent`);
      assert.equal(emu.last.query, 'alt=sse');
    });

    test('scopes read the model of the completed path; other short forms stay refused', async () => {
      emu.reset();
      const claudeOnly = await gw.key({ name: 'claude-only-express', scopes: { instances: null, models: ['claude-*'] } });
      const refused = await post('/v1beta1/publishers/google/models/gemini-2.5-flash:generateContent', CONTENTS, claudeOnly);
      assert.equal(refused.status, 403);
      assert.match(await refused.text(), /may not use model \\"gemini-2\.5-flash\\"/);
      for (const path of ['/v1beta1/publishers/google/models', '/v1beta1/models/gemini-2.5-flash:generateContent', '/v1beta1/publishers/google/models/gemini-2.5-flash:generateContent/extra']) {
        const res = await post(path, CONTENTS);
        assert.equal(res.status, 403, path);
        assert.equal(((await res.json()) as GoogleError).error.details[0]!['reason'], 'PATH_NOT_ALLOWED', path);
      }
      assert.equal(emu.requests.length, 0);
    });
  });

  describe('Claude through rawPredict as the Anthropic Vertex SDK and Claude Code send it', () => {
    test('the SDK\'s anthropic-version header beside the body\'s vertex-2023-10-16, and a mid-conversation system turn on a model that takes it', async () => {
      emu.reset();
      const body = {
        anthropic_version: 'vertex-2023-10-16',
        max_tokens: 16,
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'Hello.' },
          { role: 'system', content: 'The user switched to plan mode.' },
          { role: 'user', content: 'go on' },
        ],
      };
      const send = (model: string) =>
        fetch(`${gw.url}/transparent/vtx${ANTHROPIC}/${model}:rawPredict`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'anthropic-version': '2026-10-21', 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const res = await send('claude-opus-4-8@20260514');
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.equal((JSON.parse(text) as { content: Array<{ text: string }> }).content[0]!.text, VertexEmulator.REPLY.join(''));
      assert.equal(emu.last.headers['anthropic-version'], '2026-10-21');
      assert.deepEqual(JSON.parse(emu.last.body.toString('utf8')), body, 'forwarded as sent');

      const older = await send(CLAUDE);
      assert.equal(older.status, 400);
      assert.match(await older.text(), /role 'system' is not supported on this model/);
    });
  });

  describe('Claude\'s token counter (count-tokens:rawPredict): the model is the body\'s', () => {
    const body = { anthropic_version: 'vertex-2023-10-16', model: CLAUDE, messages: [{ role: 'user', content: 'how many tokens is this' }] };

    test('a key scoped to claude-* counts tokens and gets Vertex\'s answer', async () => {
      emu.reset();
      const claudeOnly = await gw.key({ name: 'claude-only', scopes: { instances: null, models: ['claude-*'] } });
      const res = await post(COUNT_TOKENS, body, claudeOnly);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.deepEqual(JSON.parse(text), { input_tokens: 5 });
      assert.equal(emu.last.path, COUNT_TOKENS);
      assert.equal(emu.last.headers.authorization, `Bearer ${TOKEN}`);
      assert.deepEqual(JSON.parse(emu.last.body.toString('utf8')), body, 'the body is forwarded as sent');
    });

    test('a key scoped to gemini-* is refused, naming the body\'s model', async () => {
      emu.reset();
      const geminiOnly = await gw.key({ name: 'gemini-only', scopes: { instances: null, models: ['gemini-*'] } });
      const res = await post(COUNT_TOKENS, body, geminiOnly);
      const text = await res.text();
      assert.equal(res.status, 403, text);
      assert.ok(text.includes(`may not use model \\"${CLAUDE}\\"`), text);
      assert.ok(!text.includes('count-tokens'), 'the counter is not taken for a model');
      assert.equal(emu.requests.length, 0);
    });

    test('a Claude model named in the path is still the one scopes check', async () => {
      emu.reset();
      const geminiOnly = await gw.key({ name: 'gemini-only-2', scopes: { instances: null, models: ['gemini-*'] } });
      const res = await post(`${ANTHROPIC}/${CLAUDE}:rawPredict`, { anthropic_version: 'vertex-2023-10-16', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }, geminiOnly);
      assert.equal(res.status, 403);
      assert.ok((await res.text()).includes(CLAUDE));
      assert.equal(emu.requests.length, 0);
    });
  });
});
