import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { OpenAIEmulator } from '../emulators/openai.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { closedPort, startBlackhole } from '../helpers/net.js';

const PROVIDER_KEY = 'sk-provider-safety-000000000000000';
process.env['SAFETY_OPENAI_KEY'] = PROVIDER_KEY;
const auth = { type: 'api_key', api_key: '${SAFETY_OPENAI_KEY}' };

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

/** Sends a request with a raw request line, so nothing normalises the path on the way. */
function rawRequest(port: number, requestLine: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`${requestLine}\r\nhost: 127.0.0.1\r\nconnection: close\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (data += d));
    socket.on('end', () => {
      const status = Number(data.split(' ')[1]);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    socket.on('error', reject);
  });
}

describe('transparent mode safety', () => {
  let emu: OpenAIEmulator;
  let blackhole: Awaited<ReturnType<typeof startBlackhole>>;
  let gw: TestGateway;
  let key: string;

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    blackhole = await startBlackhole();
    gw = await startGateway({
      instances: {
        openai: { type: 'openai', endpoint: `${emu.url}/base`, authentication: auth },
        files: { type: 'openai', endpoint: emu.url, allow_paths: ['GET v1/files', 'GET v1/files/*'], authentication: auth },
        small: { type: 'openai', endpoint: emu.url, body_limit: '1kb', authentication: auth },
        slow: { type: 'openai', endpoint: emu.url, timeouts: { first_byte: '300ms', idle: '300ms' }, authentication: auth },
        down: { type: 'openai', endpoint: `http://127.0.0.1:${await closedPort()}`, authentication: auth },
        blackhole: { type: 'openai', endpoint: `https://127.0.0.1:${blackhole.port}`, timeouts: { connect: '300ms' }, authentication: auth },
      },
    });
    key = await gw.key({ name: 'safety' });
  });
  after(async () => {
    await gw.close();
    await emu.close();
    await blackhole.close();
  });

  test('the native path is appended to the instance base path, query kept', async () => {
    emu.reset();
    const res = await fetch(`${gw.url}/transparent/openai/v1/models?limit=5`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.status, 404); // the emulator has no /base prefix: proves where it went
    assert.equal(emu.last.path, '/base/v1/models');
    assert.equal(emu.last.query, 'limit=5');
  });

  test('paths that could escape the base path are refused with 400 and never forwarded', async () => {
    emu.reset();
    const paths = [
      '/transparent/files/v1/../../admin',
      '/transparent/files/v1/%2e%2e/%2E%2E/admin',
      '/transparent/files/v1/.%2e/admin',
      '/transparent/files/v1/./files',
      '/transparent/files/v1%2ffiles',
      '/transparent/files/v1%2Ffiles',
      '/transparent/files/v1//files',
      '/transparent/files//evil.example/v1/files',
      '/transparent/files/v1/files%5c..%5cadmin',
      '/transparent/files/v1\\files',
      '/transparent/files/http://evil.example/v1/files',
      '/transparent/files/v1/files%00',
      '/transparent/files/v1/files%zz',
      '/transparent/files',
      '/transparent/files/',
    ];
    for (const path of paths) {
      const r = await rawRequest(gw.port, `GET ${path} HTTP/1.1`, { authorization: `Bearer ${key}` });
      assert.equal(r.status, 400, path);
      assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'invalid_path', path);
    }
    // Absolute-form request targets never pick an upstream host.
    const absolute = await rawRequest(gw.port, 'GET http://evil.example/transparent/files/v1/files HTTP/1.1', { authorization: `Bearer ${key}` });
    assert.equal(absolute.status, 400);
    assert.equal(emu.requests.length, 0);
  });

  test('only inference routes are reachable unless the instance allows more', async () => {
    emu.reset();
    const denied: Array<[string, string]> = [
      ['GET', '/transparent/openai/v1/files'],
      ['GET', '/transparent/openai/v1/organization/admin_api_keys'],
      ['POST', '/transparent/openai/v1/organization/projects'],
      ['GET', '/transparent/openai/v1/fine_tuning/jobs'],
      ['POST', '/transparent/openai/v1/models'],
      ['DELETE', '/transparent/openai/v1/models/ft:gpt-4o:acme'],
      ['DELETE', '/transparent/openai/v1/responses/resp_1'],
      ['GET', '/transparent/openai/v1/m%6fdels'],
      ['GET', '/transparent/openai/v1/models/'],
      ['POST', '/transparent/files/v1/files'],
    ];
    for (const [method, path] of denied) {
      const res = await fetch(gw.url + path, { method, headers: { authorization: `Bearer ${key}` } });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(await errorCode(res), 'path_not_allowed');
    }
    assert.equal(emu.requests.length, 0);
    const allowed = await fetch(`${gw.url}/transparent/files/v1/files`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(allowed.status, 200);
    assert.equal(emu.last.path, '/v1/files');
  });

  test('unknown instances are 404 for authenticated clients and 401 for anyone else', async () => {
    assert.equal((await fetch(`${gw.url}/transparent/nope/v1/models`)).status, 401);
    const res = await fetch(`${gw.url}/transparent/nope/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'unknown_instance');
    assert.equal((await fetch(`${gw.url}/elsewhere`)).status, 404);
    const wrongMethod = await fetch(`${gw.url}/health`, { method: 'POST' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET, HEAD');
  });

  test('bodies above the limit get 413, whether declared or chunked; anonymous bodies are never read', async () => {
    emu.reset();
    const big = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
    const declared = await fetch(`${gw.url}/transparent/small/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: big,
    });
    assert.equal(declared.status, 413);
    assert.equal(await errorCode(declared), 'payload_too_large');
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${gw.url}/transparent/small/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 4; i++) req.write('x'.repeat(512));
      req.end();
    });
    assert.equal(chunked, 413);
    const anonymous = await fetch(`${gw.url}/transparent/small/v1/chat/completions`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(anonymous.status, 401);
    const small = await fetch(`${gw.url}/transparent/small/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(small.status, 200);
    assert.equal(emu.requests.length, 1);
  });

  test('an unreachable upstream is 502; a silent one 504 (connect and first byte)', async () => {
    const down = await fetch(`${gw.url}/transparent/down/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(down.status, 502);
    const downBody = (await down.json()) as { error: { code: string; message: string } };
    assert.equal(downBody.error.code, 'upstream_unreachable');
    assert.ok(!downBody.error.message.includes('127.0.0.1'), 'the upstream address is not disclosed');

    const connect = await fetch(`${gw.url}/transparent/blackhole/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(connect.status, 504);
    assert.match(((await connect.json()) as { error: { message: string } }).error.message, /connecting/);

    emu.reset();
    emu.behaviour.firstByteDelayMs = 1500;
    const slow = await fetch(`${gw.url}/transparent/slow/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(slow.status, 504);
    assert.equal(await errorCode(slow), 'upstream_timeout');
    emu.reset();
  });

  test('a stream that goes quiet past the idle timeout ends in an error for the client, not a clean end', async () => {
    emu.reset();
    emu.behaviour.stallAfterChunks = 2;
    const client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/transparent/slow/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], stream: true });
    let received = 0;
    await assert.rejects(async () => {
      for await (const _ of stream) received++;
    });
    assert.equal(received, 2);
    await emu.waitFor((rs) => rs[0]?.aborted === true);
    emu.reset();
  });

  test('a client that disconnects mid-stream aborts the upstream request', async () => {
    emu.reset();
    emu.behaviour.chunkDelayMs = 300;
    const controller = new AbortController();
    const res = await fetch(`${gw.url}/transparent/openai/v1/chat/completions`.replace('/openai/', '/files/'), {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read(); // first chunk arrived
    controller.abort();
    await emu.waitFor((rs) => rs[0]?.aborted === true);
    assert.equal(emu.requests[0]?.completed, false);
    emu.reset();
  });

  test('backpressure: a client that stops reading stops the upstream; reading again resumes it', async () => {
    emu.reset();
    emu.bulkFramesWritten = 0;
    const frames = 200_000; // ~200 MB: far more than every socket buffer on the way can hold
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${gw.url}/transparent/files/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      }, resolve);
      req.on('error', reject);
      req.end(JSON.stringify({ model: 'emulator-bulk', stream: true, max_tokens: frames, messages: [] }));
    });
    res.pause();
    // Wait until the emulator can write no more: the count stops moving while nobody reads.
    let previous = -1;
    for (let i = 0; i < 100 && emu.bulkFramesWritten !== previous; i++) {
      previous = emu.bulkFramesWritten;
      await new Promise((r) => setTimeout(r, 150));
    }
    const stalledAt = emu.bulkFramesWritten;
    assert.equal(stalledAt, previous, 'the upstream kept writing while the client did not read');
    assert.ok(stalledAt < frames / 2, `upstream wrote ${stalledAt} of ${frames} frames with the client paused`);
    // Read for a while: the upstream moves again.
    let bytes = 0;
    res.on('data', (c: Buffer) => (bytes += c.length));
    res.resume();
    await emu.waitFor(() => emu.bulkFramesWritten > stalledAt + 1000);
    res.destroy();
    await emu.waitFor((rs) => rs[0]?.aborted === true);
    assert.ok(bytes > 0);
    emu.reset();
  });
});
