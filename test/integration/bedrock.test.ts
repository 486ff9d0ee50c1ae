import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';
import { AwsAccounts, webIdentityToken, type IamUser } from '../emulators/aws-accounts.js';
import { StsEmulator } from '../emulators/aws-sts.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { sdkWithHeaderKey } from '../helpers/bedrock-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const SONNET = 'us.anthropic.claude-3-5-sonnet-20241022-v2:0';
const PROFILE_ARN = 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0';
const EU_PROFILE_ARN = 'arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20241022-v2:0';
const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const BEDROCK_API_KEY = 'bedrock-api-key-0123456789abcdef';

function anthropicBody(text: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 64, messages: [{ role: 'user', content: text }] }));
}

describe('AWS Bedrock through the gateway', () => {
  const accounts = new AwsAccounts();
  let user: IamUser;
  let usEmu: BedrockEmulator;
  let euEmu: BedrockEmulator;
  let sts: StsEmulator;
  let gw: TestGateway;
  let key: string;
  let webToken: string;

  before(async () => {
    user = accounts.addUser('gateway');
    webToken = webIdentityToken();
    accounts.addRole('bedrock-eu', { webIdentityTokens: [webToken] });
    accounts.addRole('cross-account', { trustedPrincipals: [user.arn], externalId: 'llmproxy-ext' });
    usEmu = await new BedrockEmulator({ accounts, region: 'us-east-1', bearerKeys: [BEDROCK_API_KEY] }).start();
    euEmu = await new BedrockEmulator({ accounts, region: 'eu-central-1' }).start();
    sts = await new StsEmulator({ accounts }).start();
    // Only AWS's standard override points the credential providers at the emulator.
    process.env['AWS_ENDPOINT_URL_STS'] = sts.url;
    process.env['BEDROCK_TEST_SECRET'] = user.secretAccessKey;
    process.env['BEDROCK_TEST_API_KEY'] = BEDROCK_API_KEY;
    gw = await startGateway({
      instances: {
        bedrock_us1: {
          type: 'bedrock',
          region: 'us-east-1',
          default: true,
          endpoint: usEmu.url,
          control_endpoint: usEmu.url,
          authentication: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:BEDROCK_TEST_SECRET}' },
        },
        bedrock_eu1: {
          type: 'bedrock',
          region: 'eu-central-1',
          endpoint: euEmu.url,
          control_endpoint: euEmu.url,
          authentication: { type: 'web_identity', role_arn: accounts.role(roleArn('bedrock-eu'))!.arn, token_file: 'web-identity-token' },
        },
        bedrock_cross: {
          type: 'bedrock',
          region: 'us-east-1',
          endpoint: usEmu.url,
          control_endpoint: usEmu.url,
          authentication: {
            type: 'assume_role',
            role_arn: roleArn('cross-account'),
            external_id: 'llmproxy-ext',
            session_name: 'llmproxy-cross',
            source: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:BEDROCK_TEST_SECRET}' },
          },
        },
        bedrock_key: {
          type: 'bedrock',
          region: 'us-east-1',
          endpoint: usEmu.url,
          control_endpoint: usEmu.url,
          authentication: { type: 'bearer_token', token: '${env:BEDROCK_TEST_API_KEY}' },
        },
      },
    }, { dir: dirWithToken(webToken) });
    key = await gw.key({ name: 'bedrock-sdk' });
  });
  after(async () => {
    await gw?.close();
    await Promise.all([usEmu?.close(), euEmu?.close(), sts?.close()]);
  });

  function roleArn(name: string): string {
    return `arn:aws:iam::${accounts.accountId}:role/${name}`;
  }

  test('Converse at the root route: signed by the gateway with its own keys, the client credential gone', async () => {
    usEmu.reset();
    const client = sdkWithHeaderKey(gw.url, key);
    const out = await client.send(new ConverseCommand({ modelId: SONNET, messages: [{ role: 'user', content: [{ text: 'hi' }] }] }));
    assert.equal(out.output?.message?.content?.[0]?.text, BedrockEmulator.REPLY.join(''));
    const seen = usEmu.last;
    assert.deepEqual(seen.caller && { scheme: seen.caller.scheme, arn: 'arn' in seen.caller ? seen.caller.arn : '' }, { scheme: 'sigv4', arn: user.arn });
    assert.equal(seen.modelId, SONNET);
    assert.equal(seen.path, `/model/${encodeURIComponent(SONNET)}/converse`);
    assert.equal(seen.headers['x-api-key'], undefined);
    assert.ok(!String(seen.headers.authorization).includes('AKIDCLIENTDUMMY'), 'the client signature must not reach AWS');
    assert.ok(!JSON.stringify(seen.headers).includes(key));
  });

  test('ConverseStream: the SDK decodes the events passed through byte for byte', async () => {
    const client = sdkWithHeaderKey(gw.url, key);
    const out = await client.send(new ConverseStreamCommand({ modelId: SONNET, messages: [{ role: 'user', content: [{ text: 'hi' }] }] }));
    const text: string[] = [];
    let usage: { inputTokens?: number; outputTokens?: number } | undefined;
    for await (const event of out.stream!) {
      if (event.contentBlockDelta?.delta?.text) text.push(event.contentBlockDelta.delta.text);
      if (event.metadata) usage = event.metadata.usage;
    }
    assert.equal(text.join(''), BedrockEmulator.REPLY.join(''));
    assert.ok(usage && usage.outputTokens! > 0);
  });

  test('InvokeModel and InvokeModelWithResponseStream, model id with ":" and an inference-profile ARN', async () => {
    const client = sdkWithHeaderKey(gw.url, key);
    for (const modelId of [SONNET, PROFILE_ARN]) {
      usEmu.reset();
      const out = await client.send(new InvokeModelCommand({ modelId, contentType: 'application/json', accept: 'application/json', body: anthropicBody('hi') }));
      const body = JSON.parse(new TextDecoder().decode(out.body)) as { content: Array<{ text: string }> };
      assert.equal(body.content[0]?.text, BedrockEmulator.REPLY.join(''));
      assert.equal(usEmu.last.modelId, modelId);

      const streamed = await client.send(new InvokeModelWithResponseStreamCommand({ modelId, contentType: 'application/json', body: anthropicBody('hi') }));
      const deltas: string[] = [];
      for await (const event of streamed.body!) {
        const inner = JSON.parse(new TextDecoder().decode(event.chunk!.bytes)) as { type: string; delta?: { text?: string } };
        if (inner.type === 'content_block_delta' && inner.delta?.text) deltas.push(inner.delta.text);
      }
      assert.equal(deltas.join(''), BedrockEmulator.REPLY.join(''));
    }
    assert.equal(usEmu.signatureFailures, 0);
  });

  test('the gateway key as the SDK bearer token (Bedrock API key style)', async () => {
    const client = new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: gw.url,
      token: { token: key },
      authSchemePreference: ['httpBearerAuth'],
      maxAttempts: 1,
    });
    const out = await client.send(new ConverseCommand({ modelId: SONNET, messages: [{ role: 'user', content: [{ text: 'hi' }] }] }));
    assert.equal(out.output?.message?.content?.[0]?.text, BedrockEmulator.REPLY.join(''));
    assert.equal(usEmu.last.caller?.scheme, 'sigv4');
  });

  test('transparent route per instance: web identity in eu-central-1, signed for that region', async () => {
    euEmu.reset();
    const client = sdkWithHeaderKey(`${gw.url}/transparent/bedrock_eu1`, key);
    const out = await client.send(new ConverseCommand({ modelId: EU_PROFILE_ARN, messages: [{ role: 'user', content: [{ text: 'hi' }] }] }));
    assert.equal(out.output?.message?.content?.[0]?.text, BedrockEmulator.REPLY.join(''));
    const caller = euEmu.last.caller;
    assert.equal(caller?.scheme === 'sigv4' && caller.kind === 'session' ? caller.roleArn : undefined, roleArn('bedrock-eu'));
    assert.ok((sts.calls['AssumeRoleWithWebIdentity'] ?? 0) >= 1);
  });

  test('X-LLMProxy-Instance picks the instance for root routes; a non-Bedrock or unknown name is refused', async () => {
    usEmu.reset();
    const cross = sdkWithHeaderKey(gw.url, key, { 'x-llmproxy-instance': 'bedrock_cross' });
    await cross.send(new ConverseCommand({ modelId: SONNET, messages: [{ role: 'user', content: [{ text: 'hi' }] }] }));
    const caller = usEmu.last.caller;
    assert.equal(caller?.scheme === 'sigv4' && caller.kind === 'session' ? caller.roleArn : undefined, roleArn('cross-account'));
    assert.equal(caller?.scheme === 'sigv4' && caller.kind === 'session' ? caller.sessionName : undefined, 'llmproxy-cross');
    assert.equal(usEmu.last.headers['x-llmproxy-instance'], undefined);

    const viaKey = sdkWithHeaderKey(gw.url, key, { 'x-llmproxy-instance': 'bedrock_key' });
    await viaKey.send(new ConverseCommand({ modelId: SONNET, messages: [{ role: 'user', content: [{ text: 'hi' }] }] }));
    assert.deepEqual(usEmu.last.caller, { scheme: 'bearer', apiKey: BEDROCK_API_KEY });

    const unknown = await fetch(`${gw.url}/model/${SONNET}/converse`, { method: 'POST', headers: { 'x-api-key': key, 'x-llmproxy-instance': 'nope', 'content-type': 'application/json' }, body: '{}' });
    assert.equal(unknown.status, 404);
  });

  test('legacy envelope: body as a JSON string or an object; answered with the native body', async () => {
    for (const path of ['/v1/bedrock/invoke-model', '/bedrock/invoke-model']) {
      for (const inner of [JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] }), { anthropic_version: 'bedrock-2023-05-31', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] }]) {
        usEmu.reset();
        const res = await fetch(gw.url + path, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ modelId: SONNET, contentType: 'application/json', accept: 'application/json', body: inner }),
        });
        assert.equal(res.status, 200, await res.clone().text());
        const body = (await res.json()) as { content: Array<{ text: string }> };
        assert.equal(body.content[0]?.text, BedrockEmulator.REPLY.join(''));
        assert.equal(usEmu.last.path, `/model/${encodeURIComponent(SONNET)}/invoke`);
        assert.equal(JSON.parse(usEmu.last.body.toString('utf8')).max_tokens, 32);
      }
    }
    const bad = await fetch(`${gw.url}/v1/bedrock/invoke-model`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: '{"body": {}}' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /modelId/);
  });

  test('foundation-models on the control plane', async () => {
    const list = await fetch(`${gw.url}/transparent/bedrock_us1/foundation-models?byProvider=Anthropic`, { headers: { 'x-api-key': key } });
    assert.equal(list.status, 200);
    const models = (await list.json()) as { modelSummaries: Array<{ modelId: string; providerName: string }> };
    assert.ok(models.modelSummaries.length > 0);
    assert.ok(models.modelSummaries.every((m) => m.providerName === 'Anthropic'));
    const one = await fetch(`${gw.url}/transparent/bedrock_us1/foundation-models/${encodeURIComponent(HAIKU)}`, { headers: { 'x-api-key': key } });
    assert.equal(one.status, 200);
    assert.equal(((await one.json()) as { modelDetails: { modelId: string } }).modelDetails.modelId, HAIKU);
  });

  test('model scopes apply to the model id in the path', async () => {
    const scoped = await gw.key({ name: 'haiku-only', scopes: { instances: null, models: ['anthropic.claude-3-haiku*'] } });
    const client = sdkWithHeaderKey(gw.url, scoped);
    await client.send(new InvokeModelCommand({ modelId: HAIKU, contentType: 'application/json', body: anthropicBody('hi') }));
    await assert.rejects(client.send(new InvokeModelCommand({ modelId: SONNET, contentType: 'application/json', body: anthropicBody('hi') })), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      // The gateway's own error, readable by the SDK: typed, with the gateway's message.
      assert.equal(err.$metadata?.httpStatusCode, 403);
      assert.equal(err.name, 'AccessDeniedException');
      assert.match(err.message, /may not use model "us\.anthropic/);
      return true;
    });
  });

  test('under /transparent/{instance} too, the gateway errors are AWS-shaped: the SDK raises typed exceptions', async () => {
    const wrong = sdkWithHeaderKey(`${gw.url}/transparent/bedrock_us1`, 'llmp_wrong_key_0000000000000000000000');
    await assert.rejects(wrong.send(new InvokeModelCommand({ modelId: HAIKU, contentType: 'application/json', body: anthropicBody('hi') })), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.$metadata?.httpStatusCode, 401);
      assert.notEqual(err.name, 'Unknown', 'the SDK could read the error type');
      assert.ok(!err.message.includes('llmp_wrong_key'), 'the rejected key is not echoed');
      return true;
    });
    const scoped = await gw.key({ name: 'haiku-only-transparent', scopes: { instances: null, models: ['anthropic.claude-3-haiku*'] } });
    const client = sdkWithHeaderKey(`${gw.url}/transparent/bedrock_us1`, scoped);
    await assert.rejects(client.send(new InvokeModelCommand({ modelId: SONNET, contentType: 'application/json', body: anthropicBody('hi') })), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.$metadata?.httpStatusCode, 403);
      assert.equal(err.name, 'AccessDeniedException');
      assert.match(err.message, /may not use model "us\.anthropic/);
      return true;
    });
  });

  test('only the Bedrock inference and model-listing routes are reachable; escapes are refused', async () => {
    const headers = { 'x-api-key': key, 'content-type': 'application/json' };
    const notAllowed = await fetch(`${gw.url}/transparent/bedrock_us1/guardrails`, { headers });
    assert.equal(notAllowed.status, 403);
    for (const path of ['/model/..%2f..%2fguardrails/invoke', '/model/%2e%2e/invoke', '/model/x%5c/invoke', '/model//invoke']) {
      const res = await fetch(`${gw.url}/transparent/bedrock_us1${path}`, { method: 'POST', headers, body: '{}' });
      assert.ok(res.status === 400 || res.status === 403, `${path}: ${res.status}`);
    }
    const anonymous = await fetch(`${gw.url}/model/${SONNET}/converse`, { method: 'POST', body: '{}' });
    assert.equal(anonymous.status, 401);
  });

  test('a Bedrock error passes through as AWS wrote it, so the SDK raises the right exception', async () => {
    usEmu.injectError('ThrottlingException');
    const client = sdkWithHeaderKey(gw.url, key);
    await assert.rejects(client.send(new ConverseCommand({ modelId: SONNET, messages: [{ role: 'user', content: [{ text: 'hi' }] }] })), { name: 'ThrottlingException' });
  });

  test('usage from Converse, ConverseStream and invoke streams lands in llmproxy_tokens_total with the model from the path', async () => {
    const client = sdkWithHeaderKey(gw.url, key);
    await client.send(new ConverseCommand({ modelId: HAIKU, messages: [{ role: 'user', content: [{ text: 'hi' }] }] }));
    await gw.settle();
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`llmproxy_tokens_total\\{instance="bedrock_us1",model="${HAIKU.replace(/[.]/g, '\\.')}",direction="output"\\} [1-9]`));
    assert.match(metrics, /llmproxy_credential_refresh_total\{provider="bedrock",method="web_identity",status="success"\} [1-9]/);
    assert.match(metrics, /llmproxy_credential_expiry_seconds\{instance="bedrock_eu1"\} \d/);
  });
});

/** A config folder holding the projected service-account token (relative `token_file`). */
function dirWithToken(token: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'llmproxy-bedrock-'));
  writeFileSync(join(dir, 'web-identity-token'), token);
  return dir;
}
