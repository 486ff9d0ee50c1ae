import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { validate } from '../../src/config/load.js';
import { AwsAccounts, type IamUser } from '../emulators/aws-accounts.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { removeDir, runCli, tempDir } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Item 5 of issue 17: `instances.X.headers` reach the provider on every request of the
 * instance, transparent and protocol alike, over a client's own header of the same name; a value
 * may be a secret reference (resolved and re-read like an api_key); SigV4 signs them (the
 * Bedrock emulator verifies the signature); a header the gateway sets itself is refused at load.
 */

const OPENAI_KEY = 'sk-headers-openai-8a7b6c5d4e3f2a1b';
const ROUTE_TOKEN = 'route-token-first-5f4e3d2c1b0a9f8e';
const ROTATED_TOKEN = 'route-token-second-0a1b2c3d4e5f6a7b';

describe('per-instance upstream headers', () => {
  const accounts = new AwsAccounts();
  let user: IamUser;
  let openai: OpenAIEmulator;
  let bedrock: BedrockEmulator;
  let gw: TestGateway;
  let key: string;
  let dir: string;

  before(async () => {
    user = accounts.addUser('headers');
    openai = await new OpenAIEmulator([OPENAI_KEY]).start();
    bedrock = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
    dir = tempDir('llmproxy-headers-');
    writeFileSync(join(dir, 'route-token'), `${ROUTE_TOKEN}\n`, { mode: 0o600 });
    process.env['HEADERS_OPENAI_KEY'] = OPENAI_KEY;
    process.env['HEADERS_AWS_SECRET'] = user.secretAccessKey;
    gw = await startGateway(
      {
        secrets: { refresh_interval: '1s' },
        model_aliases: { 'team-model': 'openai/gpt-4o' },
        instances: {
          openai: {
            type: 'openai',
            endpoint: openai.url,
            headers: { 'X-Tenant': 'acme', 'X-Route-Token': `\${file:${join(dir, 'route-token')}}` },
            authentication: { type: 'api_key', api_key: '${env:HEADERS_OPENAI_KEY}' },
          },
          bedrock: {
            type: 'bedrock',
            region: 'us-east-1',
            endpoint: bedrock.url,
            control_endpoint: bedrock.url,
            headers: { 'X-Team': 'platform', 'X-Amzn-Bedrock-Trace': 'ENABLED' },
            authentication: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:HEADERS_AWS_SECRET}' },
          },
        },
      },
      { dir },
    );
    key = await gw.key({ name: 'headers' });
  });
  after(async () => {
    await gw?.close();
    await openai?.close();
    await bedrock?.close();
    if (dir) removeDir(dir);
    delete process.env['HEADERS_OPENAI_KEY'];
    delete process.env['HEADERS_AWS_SECRET'];
  });

  const chat = (path: string, model: string, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });

  test('transparent mode: the configured headers reach OpenAI, over the client\'s own X-Tenant', async () => {
    openai.reset();
    const res = await chat('/transparent/openai/v1/chat/completions', 'gpt-4o', { 'x-tenant': 'someone-else' });
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    assert.equal(openai.last.headers['x-tenant'], 'acme');
    assert.equal(openai.last.headers['x-route-token'], ROUTE_TOKEN);
    assert.equal(openai.last.headers.authorization, `Bearer ${OPENAI_KEY}`, 'the credential is the gateway\'s');
  });

  test('protocol mode (/v1 by alias) and the model list carry them too', async () => {
    openai.reset();
    const res = await chat('/v1/chat/completions', 'team-model');
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    assert.equal(openai.last.path, '/v1/chat/completions');
    assert.equal(openai.last.headers['x-tenant'], 'acme');
    assert.equal(openai.last.headers['x-route-token'], ROUTE_TOKEN);
    const models = await fetch(`${gw.url}/openai/openai/models`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(models.status, 200);
    await models.arrayBuffer();
    assert.equal(openai.last.path, '/v1/models');
    assert.equal(openai.last.headers['x-tenant'], 'acme');
  });

  test('a secret reference value is re-read: the rotated value is sent without a restart, and masked in logs', async () => {
    writeFileSync(join(dir, 'route-token'), `${ROTATED_TOKEN}\n`);
    const deadline = Date.now() + 8000;
    let seen: unknown;
    while (Date.now() < deadline) {
      const res = await chat('/transparent/openai/v1/chat/completions', 'gpt-4o');
      await res.arrayBuffer();
      seen = openai.last.headers['x-route-token'];
      if (seen === ROTATED_TOKEN) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(seen, ROTATED_TOKEN);
    // The value is registered with the log scrubber, like an api_key's.
    gw.app.logger.warn({ echoed: `upstream said ${ROTATED_TOKEN}` }, 'scrubber check');
    await gw.settle();
    assert.ok(!gw.logs.join('\n').includes(ROTATED_TOKEN));
  });

  test('Bedrock: the configured headers are SigV4-signed, and the emulator verifies the signature', async () => {
    bedrock.reset();
    const res = await fetch(`${gw.url}/transparent/bedrock/model/anthropic.claude-3-haiku-20240307-v1:0/converse`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-team': 'client-says-otherwise' },
      body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    const received = bedrock.last;
    assert.equal(received.caller?.scheme, 'sigv4', 'the signature was verified');
    assert.equal(bedrock.signatureFailures, 0);
    assert.equal(received.headers['x-team'], 'platform');
    assert.equal(received.headers['x-amzn-bedrock-trace'], 'ENABLED');
    const signed = /SignedHeaders=([^,]+)/.exec(String(received.headers.authorization))![1]!.split(';');
    assert.ok(signed.includes('x-team') && signed.includes('x-amzn-bedrock-trace'), `signed: ${signed.join(';')}`);
  });
});

describe('headers the gateway sets itself are refused at load', () => {
  const base = (headers: Record<string, string>, type = 'openai') => ({
    instances: {
      o: type === 'openai'
        ? { type, endpoint: 'https://api.openai.com', headers, authentication: { type: 'api_key', api_key: '${env:X}' } }
        : { type, region: 'us-east-1', headers, authentication: { type: 'default_credentials' } },
    },
  });
  const problem = (raw: unknown) => {
    try {
      validate(raw, 'test');
      return '(accepted)';
    } catch (err) {
      return (err as Error).message;
    }
  };

  test('credential, signature and framing headers, in any case, each named by its path', () => {
    assert.match(problem(base({ Authorization: 'Bearer sk-mine' })), /instances\.o\.headers\.Authorization: cannot be set here: the gateway sets the credential header/);
    assert.match(problem(base({ 'X-API-Key': 'k' })), /instances\.o\.headers\.X-API-Key: cannot be set here/);
    assert.match(problem(base({ 'api-key': 'k' })), /instances\.o\.headers\.api-key: cannot be set here/);
    assert.match(problem(base({ 'x-goog-api-key': 'k' })), /instances\.o\.headers\.x-goog-api-key: cannot be set here/);
    assert.match(problem(base({ 'X-Amz-Security-Token': 't' }, 'bedrock')), /instances\.o\.headers\.X-Amz-Security-Token: cannot be set here: the gateway sets it when it signs the request/);
    assert.match(problem(base({ 'X-Amz-Date': '20250101T000000Z' }, 'bedrock')), /instances\.o\.headers\.X-Amz-Date: cannot be set here/);
    assert.match(problem(base({ Host: 'elsewhere.example' })), /instances\.o\.headers\.Host: cannot be set here: the gateway sets the framing/);
    assert.match(problem(base({ 'Content-Length': '1' })), /instances\.o\.headers\.Content-Length: cannot be set here/);
    assert.match(problem(base({ 'X-LLMProxy-Instance': 'other' })), /instances\.o\.headers\.X-LLMProxy-Instance: cannot be set here/);
  });

  test('bad names and values, and the same name twice', () => {
    assert.match(problem(base({ 'Bad Name': 'v' })), /instances\.o\.headers\.Bad Name: is not an HTTP header name/);
    assert.match(problem(base({ 'X-A': 'one\r\nX-Injected: two' })), /instances\.o\.headers\.X-A: a header value cannot contain line breaks/);
    assert.match(problem(base({ 'X-A': 'prefix-${env:X}' })), /instances\.o\.headers\.X-A: must be a literal value or one whole secret reference/);
    assert.match(problem(base({ 'X-A': '${nosuchstore:a}' })), /instances\.o\.headers\.X-A: unsupported secret store "nosuchstore"/);
    assert.match(problem(base({ 'X-Tenant': 'a', 'x-tenant': 'b' })), /instances\.o\.headers\.x-tenant: is set twice/);
    assert.equal(problem(base({ 'X-Tenant': 'acme', 'X-Token': '${env:TOKEN}' })), '(accepted)');
  });

  test('llmproxy config check refuses a config that overrides Authorization, naming the path', async () => {
    const root = tempDir('llmproxy-headers-cli-');
    try {
      const path = join(root, 'llmproxy.yaml');
      writeFileSync(
        path,
        [
          'storage: { sqlite: { path: ./data/h.db } }',
          'instances:',
          '  openai:',
          '    type: openai',
          '    headers: { Authorization: "${env:HEADERS_SNEAKY}" }',
          '    authentication: { type: api_key, api_key: "${env:HEADERS_KEY}" }',
          '',
        ].join('\n'),
      );
      const r = await runCli(['config', 'check', '--config', path], { cwd: root, env: { HEADERS_KEY: 'sk-a', HEADERS_SNEAKY: 'Bearer sk-sneaky-value' } });
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /instances\.openai\.headers\.Authorization: cannot be set here: the gateway sets the credential header/);
      assert.ok(!(r.stdout + r.stderr).includes('sk-sneaky-value'));
    } finally {
      removeDir(root);
    }
  });
});
