import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, InvokeModelCommand, InvokeModelWithResponseStreamCommand,
  type BedrockRuntimeClientConfig,
} from '@aws-sdk/client-bedrock-runtime';
import {
  fromContainerMetadata, fromHttp, fromInstanceMetadata, fromTemporaryCredentials, fromTokenFile, fromWebToken,
} from '@aws-sdk/credential-providers';
import { Hash } from '@smithy/hash-node';
// A transitive dependency (of the AWS SDK). The emulators speak HTTP/1.1; the Bedrock Runtime
// client defaults to NodeHttp2Handler for every operation, so tests hand it this handler.
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SignatureV4 } from '@smithy/signature-v4';
import { AwsAccounts, type IamRole, type IamUser, webIdentityToken } from './aws-accounts.js';
import { ContainerCredentialsEmulator } from './aws-container.js';
import { ImdsEmulator } from './aws-imds.js';
import { StsEmulator } from './aws-sts.js';
import { BedrockEmulator } from './bedrock.js';

const REGION = 'us-east-1';
const PROFILE_ID = 'us.anthropic.claude-3-5-sonnet-20241022-v2:0';
const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const BEARER = `bedrock-api-key-${'Q'.repeat(40)}`;
const USER_MESSAGE = [{ role: 'user' as const, content: [{ text: 'Hi' }] }];

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

describe('AWS emulators, driven by the real AWS SDK', () => {
  let accounts: AwsAccounts;
  let user: IamUser;
  let bedrock: BedrockEmulator;
  const savedEnv = { ...process.env };

  before(async () => {
    // Nothing from the machine's AWS setup may leak into these tests.
    const empty = join(mkdtempSync(join(tmpdir(), 'aws-emu-')), 'none');
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    process.env['AWS_CONFIG_FILE'] = empty;
    process.env['AWS_SHARED_CREDENTIALS_FILE'] = empty;
    // Should any client fall back to the default chain, it must not reach for 169.254.169.254.
    process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
    accounts = new AwsAccounts();
    user = accounts.addUser('gateway');
    bedrock = await new BedrockEmulator({ accounts, region: REGION, bearerKeys: [BEARER] }).start();
  });
  after(async () => {
    await bedrock.close();
    process.env = savedEnv;
  });
  beforeEach(() => {
    bedrock.reset();
    accounts.clockOffsetMs = 0;
    accounts.defaultTtlSeconds = 3600;
  });

  function runtime(credentials: Creds | undefined, extra: Partial<BedrockRuntimeClientConfig> = {}): BedrockRuntimeClient {
    return new BedrockRuntimeClient({
      endpoint: bedrock.url, region: REGION, requestHandler: new NodeHttpHandler(), maxAttempts: 1,
      ...(credentials ? { credentials } : {}), ...extra,
    });
  }

  const userCreds = (): Creds => ({ accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey });

  async function converseAs(credentials: Creds): Promise<void> {
    const out = await runtime(credentials).send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE }));
    assert.equal(out.output?.message?.content?.[0]?.text, BedrockEmulator.REPLY.join(''));
  }

  describe('Bedrock Runtime', () => {
    test('Converse with an inference profile id: the path carries %3A, the caller is recorded', async () => {
      const out = await runtime(userCreds()).send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE, inferenceConfig: { maxTokens: 64 } }));
      assert.equal(out.output?.message?.role, 'assistant');
      assert.equal(out.output?.message?.content?.[0]?.text, 'Hello from the Bedrock emulator.');
      assert.equal(out.stopReason, 'end_turn');
      assert.equal(out.usage?.outputTokens, BedrockEmulator.REPLY.length);
      assert.equal(out.usage?.totalTokens, out.usage!.inputTokens! + out.usage!.outputTokens!);
      assert.ok(out.metrics?.latencyMs! >= 1);
      assert.match(out.$metadata.requestId!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(bedrock.last.path, '/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse');
      assert.equal(bedrock.last.modelId, PROFILE_ID);
      assert.deepEqual(bedrock.last.caller, { scheme: 'sigv4', kind: 'user', accessKeyId: user.accessKeyId, arn: user.arn, userName: 'gateway' });
    });

    test('ConverseStream: event-stream frames decode into text and metadata usage', async () => {
      const out = await runtime(userCreds()).send(new ConverseStreamCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE }));
      let text = '';
      const kinds: string[] = [];
      let usage: { inputTokens?: number; outputTokens?: number; totalTokens?: number } | undefined;
      for await (const event of out.stream!) {
        kinds.push(Object.keys(event).find((k) => k !== '$unknown')!);
        if (event.contentBlockDelta?.delta?.text) text += event.contentBlockDelta.delta.text;
        if (event.metadata) usage = event.metadata.usage;
        if (event.messageStop) assert.equal(event.messageStop.stopReason, 'end_turn');
      }
      assert.equal(text, 'Hello from the Bedrock emulator.');
      assert.deepEqual(kinds, ['messageStart', ...BedrockEmulator.REPLY.map(() => 'contentBlockDelta'), 'contentBlockStop', 'messageStop', 'metadata']);
      assert.equal(usage?.outputTokens, BedrockEmulator.REPLY.length);
      assert.equal(usage?.totalTokens, usage!.inputTokens! + usage!.outputTokens!);
    });

    test('InvokeModel (Anthropic Messages): JSON answer and x-amzn-bedrock-* token headers', async () => {
      const client = runtime(userCreds());
      let headers: Record<string, string> = {};
      client.middlewareStack.add((next) => async (args) => {
        const result = await next(args);
        headers = (result.response as { headers: Record<string, string> }).headers;
        return result;
      }, { step: 'deserialize' });
      const out = await client.send(new InvokeModelCommand({
        modelId: PROFILE_ID, contentType: 'application/json', accept: 'application/json',
        body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] }),
      }));
      const body = JSON.parse(new TextDecoder().decode(out.body)) as { type: string; model: string; content: Array<{ text: string }>; usage: { input_tokens: number; output_tokens: number } };
      assert.equal(body.type, 'message');
      assert.equal(body.model, 'claude-3-5-sonnet-20241022');
      assert.equal(body.content[0]!.text, 'Hello from the Bedrock emulator.');
      assert.equal(headers['x-amzn-bedrock-input-token-count'], String(body.usage.input_tokens));
      assert.equal(headers['x-amzn-bedrock-output-token-count'], String(body.usage.output_tokens));
      assert.match(headers['x-amzn-bedrock-invocation-latency']!, /^\d+$/);
    });

    test('InvokeModel rejects bodies Bedrock rejects: a `model` key, no anthropic_version, invalid JSON', async () => {
      const client = runtime(userCreds());
      const invoke = (body: string) => client.send(new InvokeModelCommand({ modelId: PROFILE_ID, contentType: 'application/json', body }));
      await assert.rejects(invoke(JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 5, messages: [], model: 'x' })),
        { name: 'ValidationException', message: /extraneous key \[model\] is not permitted/ });
      await assert.rejects(invoke(JSON.stringify({ max_tokens: 5, messages: [] })),
        { name: 'ValidationException', message: /required key \[anthropic_version\] not found/ });
      await assert.rejects(invoke('{not json'), awsError('ValidationException', 400));
    });

    test('InvokeModelWithResponseStream: chunk events carry base64 Anthropic events, the last with invocation metrics', async () => {
      const out = await runtime(userCreds()).send(new InvokeModelWithResponseStreamCommand({
        modelId: PROFILE_ID, contentType: 'application/json',
        body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] }),
      }));
      const events: Array<Record<string, unknown>> = [];
      for await (const e of out.body!) events.push(JSON.parse(new TextDecoder().decode(e.chunk!.bytes!)) as Record<string, unknown>);
      assert.deepEqual(events.map((e) => e['type']), ['message_start', 'content_block_start', ...BedrockEmulator.REPLY.map(() => 'content_block_delta'), 'content_block_stop', 'message_delta', 'message_stop']);
      const text = events.filter((e) => e['type'] === 'content_block_delta').map((e) => (e['delta'] as { text: string }).text).join('');
      assert.equal(text, 'Hello from the Bedrock emulator.');
      const metrics = events.at(-1)!['amazon-bedrock-invocationMetrics'] as Record<string, number>;
      assert.deepEqual(Object.keys(metrics).sort(), ['firstByteLatency', 'inputTokenCount', 'invocationLatency', 'outputTokenCount']);
      assert.equal(metrics['outputTokenCount'], BedrockEmulator.REPLY.length);
    });

    test('an inference-profile ARN arrives with / as %2F and is accepted', async () => {
      const arn = `arn:aws:bedrock:${REGION}:${accounts.accountId}:inference-profile/${PROFILE_ID}`;
      const out = await runtime(userCreds()).send(new ConverseCommand({ modelId: arn, messages: USER_MESSAGE }));
      assert.equal(out.stopReason, 'end_turn');
      assert.equal(bedrock.last.path, `/model/${encodeURIComponent(arn)}/converse`);
      assert.match(bedrock.last.path, /%2F/);
      assert.equal(bedrock.last.modelId, arn);
    });

    test('Titan embeddings via InvokeModel; a foundation model id with on-demand throughput', async () => {
      const out = await runtime(userCreds()).send(new InvokeModelCommand({
        modelId: 'amazon.titan-embed-text-v2:0', contentType: 'application/json', body: JSON.stringify({ inputText: 'hello world', dimensions: 256 }),
      }));
      const body = JSON.parse(new TextDecoder().decode(out.body)) as { embedding: number[]; inputTextTokenCount: number };
      assert.equal(body.embedding.length, 256);
      assert.ok(body.inputTextTokenCount > 0);
      const haiku = await runtime(userCreds()).send(new ConverseCommand({ modelId: HAIKU, messages: USER_MESSAGE }));
      assert.equal(haiku.stopReason, 'end_turn');
    });

    test('unknown and wrongly invoked models: ValidationException / ResourceNotFoundException as AWS answers', async () => {
      const client = runtime(userCreds());
      const converse = (modelId: string) => client.send(new ConverseCommand({ modelId, messages: USER_MESSAGE }));
      await assert.rejects(converse('anthropic.claude-9-opus'), { name: 'ValidationException', message: 'The provided model identifier is invalid.' });
      await assert.rejects(converse('eu.anthropic.claude-3-5-sonnet-20241022-v2:0'), { name: 'ValidationException' });
      await assert.rejects(converse('anthropic.claude-3-5-sonnet-20241022-v2:0'), { name: 'ValidationException', message: /on-demand throughput isn’t supported/ });
      await assert.rejects(converse('anthropic.claude-v2:1'), awsError('ResourceNotFoundException', 404));
      await assert.rejects(converse('amazon.titan-embed-text-v2:0'), { name: 'ValidationException' });
    });

    test('injected throttling reaches the SDK as ThrottlingException (429)', async () => {
      bedrock.injectError('ThrottlingException');
      await assert.rejects(runtime(userCreds()).send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE })),
        awsError('ThrottlingException', 429, 'Too many requests, please wait before trying again.'));
      await converseAs(userCreds());
    });

    test('streams honour chunk delays and end with an exception frame when told to', async () => {
      bedrock.behaviour.chunkDelayMs = 20;
      const started = Date.now();
      const out = await runtime(userCreds()).send(new ConverseStreamCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE }));
      for await (const _ of out.stream!) void _;
      assert.ok(Date.now() - started >= 9 * 20 - 5, 'ten frames, nine gaps');

      bedrock.behaviour.chunkDelayMs = 0;
      bedrock.streamException = { afterEvents: 3, type: 'throttlingException', message: 'Too many tokens, please wait before trying again.' };
      const failing = await runtime(userCreds()).send(new ConverseStreamCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE }));
      let seen = 0;
      await assert.rejects(async () => {
        for await (const _ of failing.stream!) seen++;
      }, { name: 'ThrottlingException', message: 'Too many tokens, please wait before trying again.' });
      assert.equal(seen, 3);
    });
  });

  describe('Bedrock authentication, as AWS checks it', () => {
    test('a wrong secret: InvalidSignatureException, counted', async () => {
      await assert.rejects(runtime({ accessKeyId: user.accessKeyId, secretAccessKey: 'wrong' + user.secretAccessKey.slice(5) })
        .send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE })),
      awsError('InvalidSignatureException', 403, /^The request signature we calculated does not match/));
      assert.equal(bedrock.signatureFailures, 1);
      assert.equal(bedrock.last.authError, 'InvalidSignatureException');
      assert.equal(bedrock.last.caller, undefined);
    });

    test('an unknown access key: UnrecognizedClientException', async () => {
      await assert.rejects(runtime({ accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x'.repeat(40) })
        .send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE })),
      { name: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' });
    });

    test('temporary credentials: need their session token, expire, can be revoked', async () => {
      const role = accounts.addRole('direct');
      const cred = accounts.issue(role.arn, 'direct-session', 30);
      const full = { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, sessionToken: cred.sessionToken };
      await converseAs(full);
      assert.equal(bedrock.last.caller?.scheme === 'sigv4' && bedrock.last.caller.kind === 'session' && bedrock.last.caller.roleArn, role.arn);

      const send = (c: Creds) => runtime(c).send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE }));
      await assert.rejects(send({ accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey }), { name: 'UnrecognizedClientException' });
      await assert.rejects(send({ ...full, sessionToken: `${cred.sessionToken}x` }), { name: 'UnrecognizedClientException' });

      accounts.clockOffsetMs = 31_000;
      await assert.rejects(send(full), awsError('ExpiredTokenException', 403, 'The security token included in the request is expired'));
      accounts.clockOffsetMs = 0;

      accounts.revoke(cred.accessKeyId);
      await assert.rejects(send(full), { name: 'UnrecognizedClientException' });
    });

    test('the credential scope must name the emulator region and service bedrock', async () => {
      await assert.rejects(runtime(userCreds(), { region: 'eu-west-1' }).send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE })),
        { name: 'InvalidSignatureException', message: /Credential should be scoped to a valid region/ });
      const res = await signedRequest(bedrock.url, { method: 'GET', path: '/foundation-models', service: 'bedrock-runtime', creds: userCreds() });
      assert.equal(res.status, 403);
      assert.deepEqual(JSON.parse(res.text), { message: "Credential should be scoped to correct service: 'bedrock'. " });
    });

    test('clock skew over 5 minutes: "Signature expired"; the SDK corrects its clock from Date and retries', async () => {
      accounts.clockOffsetMs = 10 * 60_000;
      await assert.rejects(runtime(userCreds()).send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE })),
        { name: 'InvalidSignatureException', message: /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/ });
      const out = await runtime(userCreds(), { maxAttempts: 2 }).send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE }));
      assert.equal(out.$metadata.attempts, 2);
    });

    test('errors carry x-amzn-errortype and a UUID x-amzn-requestid; no Authorization is MissingAuthenticationToken', async () => {
      const res = await rawRequest(bedrock.url, { method: 'POST', path: `/model/${encodeURIComponent(PROFILE_ID)}/converse`, headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(res.status, 403);
      assert.equal(res.headers['x-amzn-errortype'], 'MissingAuthenticationTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/');
      assert.match(String(res.headers['x-amzn-requestid']), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.deepEqual(JSON.parse(res.text), { message: 'Missing Authentication Token' });
      bedrock.injectError('ThrottlingException');
      const throttled = await signedRequest(bedrock.url, { method: 'GET', path: '/foundation-models', creds: userCreds() });
      assert.equal(throttled.headers['x-amzn-errortype'], 'ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/');
    });

    test('the path is signed as received, encoded once more (non-S3): signing the decoded model id fails', async () => {
      const wirePath = `/model/${encodeURIComponent(HAIKU)}/invoke`;
      const body = JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
      const good = await signedRequest(bedrock.url, { method: 'POST', path: wirePath, body, creds: userCreds() });
      assert.equal(good.status, 200, good.text);
      const bad = await signedRequest(bedrock.url, { method: 'POST', path: wirePath, signPath: `/model/${HAIKU}/invoke`, body, creds: userCreds() });
      assert.equal(bad.status, 403);
      assert.equal(bad.headers['x-amzn-errortype'], 'InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/');
      const tampered = await signedRequest(bedrock.url, { method: 'POST', path: wirePath, body, sendBody: body.replace('Hi', 'Ho'), creds: userCreds() });
      assert.equal(tampered.status, 403, 'the body is part of the signature');
    });

    test('Bedrock API keys: Bearer token via the client config and via AWS_BEARER_TOKEN_BEDROCK; a wrong key is refused', async () => {
      const out = await runtime(undefined, { token: { token: BEARER }, authSchemePreference: ['httpBearerAuth'] })
        .send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE }));
      assert.equal(out.stopReason, 'end_turn');
      assert.deepEqual(bedrock.last.caller, { scheme: 'bearer', apiKey: BEARER });
      assert.equal(bedrock.last.headers.authorization, `Bearer ${BEARER}`);

      await withEnv({ AWS_BEARER_TOKEN_BEDROCK: BEARER }, async () => {
        await runtime(undefined).send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE }));
      });
      assert.deepEqual(bedrock.last.caller, { scheme: 'bearer', apiKey: BEARER });

      await assert.rejects(runtime(undefined, { token: { token: 'bedrock-api-key-wrong' }, authSchemePreference: ['httpBearerAuth'] })
        .send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE })),
      awsError('AccessDeniedException', 403, 'Authentication failed: Please make sure your API Key is valid.'));
    });
  });

  describe('Bedrock control plane', () => {
    test('GET /foundation-models (byProvider) and /foundation-models/{id}', async () => {
      const list = await signedRequest(bedrock.url, { method: 'GET', path: '/foundation-models', query: { byProvider: 'anthropic' }, creds: userCreds() });
      assert.equal(list.status, 200);
      const summaries = (JSON.parse(list.text) as { modelSummaries: Array<{ providerName: string; modelArn: string; modelId: string }> }).modelSummaries;
      assert.ok(summaries.length >= 2);
      assert.ok(summaries.every((m) => m.providerName === 'Anthropic' && m.modelArn === `arn:aws:bedrock:${REGION}::foundation-model/${m.modelId}`));
      const one = await signedRequest(bedrock.url, { method: 'GET', path: `/foundation-models/${encodeURIComponent('amazon.titan-embed-text-v2:0')}`, creds: userCreds() });
      assert.equal(one.status, 200, one.text);
      const details = (JSON.parse(one.text) as { modelDetails: Record<string, unknown> }).modelDetails;
      assert.deepEqual(details['outputModalities'], ['EMBEDDING']);
      assert.deepEqual(details['modelLifecycle'], { status: 'ACTIVE' });
      const missing = await signedRequest(bedrock.url, { method: 'GET', path: '/foundation-models/nope.model-v1', creds: userCreds() });
      assert.equal(missing.status, 404);
      assert.match(String(missing.headers['x-amzn-errortype']), /^ResourceNotFoundException:/);
    });
  });

  describe('STS', () => {
    let sts: StsEmulator;
    let webRole: IamRole;
    let token: string;

    before(async () => {
      sts = await new StsEmulator({ accounts }).start();
      token = webIdentityToken({ sub: 'system:serviceaccount:ai:gateway' });
      webRole = accounts.addRole('web-bedrock', { webIdentityTokens: [token] });
    });
    after(() => sts.close());
    beforeEach(async () => {
      sts.reset();
      sts.ttlSeconds = undefined;
      await sts.setDown(false);
    });

    const stsConfig = () => ({ endpoint: sts.url, region: REGION, maxAttempts: 1 });

    test('fromWebToken: AssumeRoleWithWebIdentity (unsigned) mints credentials Bedrock accepts', async () => {
      const creds = await fromWebToken({ roleArn: webRole.arn, webIdentityToken: token, roleSessionName: 'gw-1', clientConfig: stsConfig() })();
      assert.match(creds.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
      assert.equal(creds.accountId, accounts.accountId);
      assert.equal(sts.calls['AssumeRoleWithWebIdentity'], 1);
      assert.equal(sts.last.headers.authorization, undefined, 'AssumeRoleWithWebIdentity goes unsigned');
      assert.equal(sts.last.issued?.expiration.getTime(), creds.expiration?.getTime());
      await converseAs(creds);
      assert.deepEqual(bedrock.last.caller, {
        scheme: 'sigv4', kind: 'session', accessKeyId: creds.accessKeyId, arn: `arn:aws:sts::${accounts.accountId}:assumed-role/web-bedrock/gw-1`,
        roleArn: webRole.arn, sessionName: 'gw-1', issuedBy: 'sts:AssumeRoleWithWebIdentity',
      });
    });

    test('fromTokenFile through AWS_ENDPOINT_URL_STS and the standard web identity variables', async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'aws-emu-')), 'token');
      writeFileSync(file, token);
      const creds = await withEnv({
        AWS_ENDPOINT_URL_STS: sts.url, AWS_REGION: REGION, AWS_WEB_IDENTITY_TOKEN_FILE: file, AWS_ROLE_ARN: webRole.arn, AWS_ROLE_SESSION_NAME: 'from-file',
      }, () => fromTokenFile()());
      assert.equal(sts.last.issued?.sessionName, 'from-file');
      await converseAs(creds);
    });

    test('bad web identity tokens: InvalidIdentityToken, AccessDenied, ExpiredTokenException; rotation', async () => {
      const assume = (webIdentityToken: string, roleArn = webRole.arn) => fromWebToken({ roleArn, webIdentityToken, clientConfig: stsConfig() })();
      await assert.rejects(assume(webIdentityToken()), awsError('InvalidIdentityTokenException', 400));
      await assert.rejects(assume('not-a-jwt'), { name: 'InvalidIdentityTokenException', message: /not a valid JWT/ });
      const other = accounts.addRole('other-web');
      await assert.rejects(assume(token, other.arn), awsError('AccessDenied', 403, 'Not authorized to perform sts:AssumeRoleWithWebIdentity'));
      const stale = webIdentityToken({ expiresInSeconds: -60 });
      webRole.webIdentityTokens.add(stale);
      await assert.rejects(assume(stale), { name: 'ExpiredTokenException', message: /^Token expired: current date\/time \d+ must be before the expiration date\/time\d+$/ });
      assert.equal(sts.errors['InvalidIdentityToken'], 2, 'the XML code is InvalidIdentityToken; the SDK names the error InvalidIdentityTokenException');

      const rotated = webIdentityToken();
      webRole.webIdentityTokens.clear();
      webRole.webIdentityTokens.add(rotated);
      await assert.rejects(assume(token), { name: 'InvalidIdentityTokenException' });
      assert.match((await assume(rotated)).accessKeyId, /^ASIA/);
      webRole.webIdentityTokens.add(token);
    });

    test('fromTemporaryCredentials: signed AssumeRole with an external id; trust and external id enforced', async () => {
      const role = accounts.addRole('cross-account', { trustedPrincipals: [user.arn], externalId: 'ext-123' });
      const assume = (params: { ExternalId?: string; DurationSeconds?: number }, master: Creds = userCreds()) => fromTemporaryCredentials({
        masterCredentials: master, params: { RoleArn: role.arn, RoleSessionName: 'gw-assume', ...params }, clientConfig: stsConfig(),
      })();
      const creds = await assume({ ExternalId: 'ext-123' });
      assert.equal(sts.last.caller?.kind === 'user' && sts.last.caller.arn, user.arn);
      assert.match(String(sts.last.headers.authorization), new RegExp(`^AWS4-HMAC-SHA256 Credential=${user.accessKeyId}/\\d{8}/${REGION}/sts/aws4_request`));
      await converseAs(creds);
      assert.equal(bedrock.last.caller?.scheme === 'sigv4' && bedrock.last.caller.kind === 'session' && bedrock.last.caller.issuedBy, 'sts:AssumeRole');

      const denied = `User: ${user.arn} is not authorized to perform: sts:AssumeRole on resource: ${role.arn}`;
      await assert.rejects(assume({ ExternalId: 'ext-999' }), { name: 'AccessDenied', message: denied });
      await assert.rejects(assume({}), { name: 'AccessDenied', message: denied });
      const stranger = accounts.addUser('stranger');
      await assert.rejects(assume({ ExternalId: 'ext-123' }, { accessKeyId: stranger.accessKeyId, secretAccessKey: stranger.secretAccessKey }), { name: 'AccessDenied' });
      await assert.rejects(assume({ ExternalId: 'ext-123' }, { accessKeyId: user.accessKeyId, secretAccessKey: `${user.secretAccessKey.startsWith('x') ? 'y' : 'x'}${user.secretAccessKey.slice(1)}` }),
        awsError('SignatureDoesNotMatch', 403));
      await assert.rejects(assume({ ExternalId: 'ext-123' }, { accessKeyId: 'AKIANOBODYNOBODY0000', secretAccessKey: 's' }), { name: 'InvalidClientTokenId' });
      await assert.rejects(assume({ ExternalId: 'ext-123', DurationSeconds: 60 }), { name: 'ValidationError', message: /greater than or equal to 900/ });
    });

    test('GetCallerIdentity (signed Query API POST) answers AWS XML for users and sessions', async () => {
      const body = 'Action=GetCallerIdentity&Version=2011-06-15';
      const headers = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
      const res = await signedRequest(sts.url, { method: 'POST', path: '/', body, headers, service: 'sts', creds: userCreds() });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['content-type'], 'text/xml');
      assert.match(res.text, new RegExp(`^<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\\s*<GetCallerIdentityResult>\\s*<Arn>${user.arn}</Arn>\\s*<UserId>${user.userId}</UserId>\\s*<Account>${accounts.accountId}</Account>`));
      assert.match(res.text, /<ResponseMetadata>\s*<RequestId>[0-9a-f-]{36}<\/RequestId>/);
      const cred = accounts.issue(webRole.arn, 'who-am-i', 60);
      const asSession = await signedRequest(sts.url, { method: 'POST', path: '/', body, headers, service: 'sts', creds: cred });
      assert.match(asSession.text, new RegExp(`<Arn>${cred.assumedRoleArn}</Arn>`));
      const wrongRegion = await signedRequest(sts.url, { method: 'POST', path: '/', body, headers, service: 'sts', region: 'eu-west-1', creds: userCreds() });
      assert.equal(wrongRegion.status, 403);
      assert.match(wrongRegion.text, /<Type>Sender<\/Type>\s*<Code>SignatureDoesNotMatch<\/Code>\s*<Message>Credential should be scoped to a valid region, not 'eu-west-1'. <\/Message>/);
      const viaGet = await signedRequest(sts.url, { method: 'GET', path: '/', query: { Action: 'GetCallerIdentity', Version: '2011-06-15' }, service: 'sts', creds: userCreds() });
      assert.match(viaGet.text, new RegExp(`<Arn>${user.arn}</Arn>`), 'the Query API also takes GET');
      const unsigned = await rawRequest(sts.url, { method: 'POST', path: '/', headers, body });
      assert.match(unsigned.text, /<Code>MissingAuthenticationToken<\/Code>/);
    });

    test('STS down: refused, reset, 503 — the provider throws; back on the same URL afterwards', async () => {
      const assume = () => fromWebToken({ roleArn: webRole.arn, webIdentityToken: token, clientConfig: stsConfig() })();
      const url = sts.url;
      await sts.setDown('refuse');
      await assert.rejects(assume(), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
      await sts.setDown('reset');
      await assert.rejects(assume(), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET' || /socket hang up/.test(e.message));
      await sts.setDown('unavailable');
      await assert.rejects(assume(), awsError('ServiceUnavailable', 503));
      await sts.setDown(false);
      assert.equal(sts.url, url);
      assert.match((await assume()).accessKeyId, /^ASIA/);
    });

    test('short TTLs: the expiry the SDK reports is the one minted, and Bedrock honours it', async () => {
      sts.ttlSeconds = 20;
      const before = accounts.now();
      const creds = await fromWebToken({ roleArn: webRole.arn, webIdentityToken: token, clientConfig: stsConfig() })();
      const ttl = creds.expiration!.getTime() - before;
      assert.ok(ttl > 18_000 && ttl <= 20_000, `ttl ${ttl}`);
      assert.equal(creds.expiration!.getTime(), accounts.issued.at(-1)!.expiration.getTime());
      await converseAs(creds);
      accounts.clockOffsetMs = 21_000;
      await assert.rejects(runtime(creds).send(new ConverseCommand({ modelId: PROFILE_ID, messages: USER_MESSAGE })), { name: 'ExpiredTokenException' });
    });
  });

  describe('IMDS', () => {
    let roleA: IamRole;
    let roleB: IamRole;
    let imdsA: ImdsEmulator;
    let imdsB: ImdsEmulator;

    before(async () => {
      roleA = accounts.addRole('instance-a');
      roleB = accounts.addRole('instance-b');
      imdsA = await new ImdsEmulator({ accounts, roleArn: roleA.arn }).start();
      imdsB = await new ImdsEmulator({ accounts, roleArn: roleB.arn, ttlSeconds: 20 }).start();
    });
    after(async () => {
      await imdsA.close();
      await imdsB.close();
    });

    test('fromInstanceMetadata (AWS_EC2_METADATA_SERVICE_ENDPOINT): IMDSv2 token, role, credentials; instance A signs as role A', async () => {
      const a = await withEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsA.url }, () => fromInstanceMetadata({ maxRetries: 0 })());
      const b = await withEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsB.url }, () => fromInstanceMetadata({ maxRetries: 0 })());
      assert.deepEqual(imdsA.requests.map((r) => `${r.method} ${r.path}`), [
        'PUT /latest/api/token', 'GET /latest/meta-data/iam/security-credentials/', 'GET /latest/meta-data/iam/security-credentials/instance-a',
      ]);
      assert.equal(imdsA.requests[0]!.headers['x-aws-ec2-metadata-token-ttl-seconds'], '21600');
      assert.equal(imdsA.tokensIssued, 1);
      assert.equal(imdsA.credentialRequests, 1);
      assert.equal(imdsA.last.served?.accessKeyId, a.accessKeyId);
      const ttlB = b.expiration!.getTime() - accounts.now();
      assert.ok(ttlB > 18_000 && ttlB <= 20_000, `ttl ${ttlB}`);

      await converseAs(a);
      assert.equal(bedrock.last.caller?.scheme === 'sigv4' && bedrock.last.caller.kind === 'session' && bedrock.last.caller.roleArn, roleA.arn);
      await converseAs(b);
      assert.equal(bedrock.last.caller?.scheme === 'sigv4' && bedrock.last.caller.kind === 'session' && bedrock.last.caller.roleArn, roleB.arn);

      const again = await withEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsA.url }, () => fromInstanceMetadata({ maxRetries: 0 })());
      assert.equal(again.accessKeyId, a.accessKeyId, 'IMDS serves the same set until it nears expiry');
      assert.equal(accounts.issueCount(roleA.arn), 1);
    });

    test('IMDSv2 is enforced: no token 401, no TTL 400, proxied token request 403', async () => {
      imdsA.reset();
      const noToken = await rawRequest(imdsA.url, { method: 'GET', path: '/latest/meta-data/iam/security-credentials/' });
      assert.equal(noToken.status, 401);
      assert.match(noToken.text, /<title>401 - Unauthorized<\/title>/);
      assert.equal(imdsA.unauthorized, 1);
      const badToken = await rawRequest(imdsA.url, { method: 'GET', path: '/latest/meta-data/instance-id', headers: { 'x-aws-ec2-metadata-token': 'AQAEAforged==' } });
      assert.equal(badToken.status, 401);
      assert.equal((await rawRequest(imdsA.url, { method: 'PUT', path: '/latest/api/token' })).status, 400);
      assert.equal((await rawRequest(imdsA.url, { method: 'PUT', path: '/latest/api/token', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '21601' } })).status, 400);
      assert.equal((await rawRequest(imdsA.url, { method: 'PUT', path: '/latest/api/token', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60', 'x-forwarded-for': '10.0.0.1' } })).status, 403);
      const tok = await rawRequest(imdsA.url, { method: 'PUT', path: '/latest/api/token', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } });
      assert.equal(tok.headers['x-aws-ec2-metadata-token-ttl-seconds'], '60');
      const region = await rawRequest(imdsA.url, { method: 'GET', path: '/latest/meta-data/placement/region', headers: { 'x-aws-ec2-metadata-token': tok.text } });
      assert.equal(region.text, REGION);
      imdsA.expireTokens();
      assert.equal((await rawRequest(imdsA.url, { method: 'GET', path: '/latest/meta-data/placement/region', headers: { 'x-aws-ec2-metadata-token': tok.text } })).status, 401);
    });

    test('an instance without a role: the provider fails', async () => {
      const bare = await new ImdsEmulator({ accounts }).start();
      try {
        await assert.rejects(withEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: bare.url }, () => fromInstanceMetadata({ maxRetries: 0 })()),
          (e: { statusCode?: number }) => e.statusCode === 404);
      } finally {
        await bare.close();
      }
    });
  });

  describe('container credentials (EKS Pod Identity, ECS)', () => {
    let podRole: IamRole;
    let pod: ContainerCredentialsEmulator;
    let saToken: string;
    let tokenFile: string;

    before(async () => {
      podRole = accounts.addRole('pod-bedrock');
      saToken = webIdentityToken({ aud: 'pods.eks.amazonaws.com' });
      pod = await new ContainerCredentialsEmulator({ accounts, roleArn: podRole.arn, tokens: [saToken] }).start();
      tokenFile = join(mkdtempSync(join(tmpdir(), 'aws-emu-')), 'eks-pod-identity-token');
      writeFileSync(tokenFile, saToken);
    });
    after(() => pod.close());

    test('fromHttp with the full URI and the token file: credentials Bedrock accepts', async () => {
      const creds = await fromHttp({ awsContainerCredentialsFullUri: pod.fullUri, awsContainerAuthorizationTokenFile: tokenFile, maxRetries: 0 })();
      assert.equal(pod.last.headers.authorization, saToken);
      assert.equal(pod.last.path, '/v1/credentials');
      assert.equal(creds.accessKeyId, pod.last.served?.accessKeyId);
      await converseAs(creds);
      assert.equal(bedrock.last.caller?.scheme === 'sigv4' && bedrock.last.caller.kind === 'session' && bedrock.last.caller.issuedBy, 'container:eks');
    });

    test('the same through AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', async () => {
      const creds = await withEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: pod.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile }, () => fromHttp({ maxRetries: 0 })());
      await converseAs(creds);
    });

    test('token rotation: the file is read on every fetch, an old token is refused', async () => {
      const rotated = webIdentityToken({ aud: 'pods.eks.amazonaws.com' });
      pod.acceptedKeys.clear();
      pod.acceptedKeys.add(rotated);
      try {
        const fetchCreds = () => fromHttp({ awsContainerCredentialsFullUri: pod.fullUri, awsContainerAuthorizationTokenFile: tokenFile, maxRetries: 0 })();
        await assert.rejects(fetchCreds(), /Server responded with status: 400/);
        writeFileSync(tokenFile, rotated);
        assert.match((await fetchCreds()).accessKeyId, /^ASIA/);
        const empty = await rawRequest(pod.url, { method: 'GET', path: '/v1/credentials' });
        assert.deepEqual([empty.status, empty.text], [400, 'Service account token cannot be empty\n']);
      } finally {
        pod.acceptedKeys.clear();
        pod.acceptedKeys.add(saToken);
        writeFileSync(tokenFile, saToken);
      }
    });

    test('fromContainerMetadata (AWS_CONTAINER_AUTHORIZATION_TOKEN only; hosts localhost and 127.0.0.1 only)', async () => {
      const creds = await withEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: pod.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: saToken }, () => fromContainerMetadata({ maxRetries: 0 })());
      await converseAs(creds);
      await assert.rejects(withEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: pod.fullUri.replace('127.0.0.1', '127.0.0.2') }, () => fromContainerMetadata({ maxRetries: 0 })()),
        /127\.0\.0\.2 is not a valid container metadata service hostname/);
    });

    test('ECS flavour: /v2/credentials/<id> with RoleArn in the answer; an unknown id is refused', async () => {
      const ecs = await new ContainerCredentialsEmulator({ accounts, roleArn: podRole.arn, flavour: 'ecs' }).start();
      try {
        const creds = await fromHttp({ awsContainerCredentialsFullUri: ecs.fullUri, maxRetries: 0 })();
        await converseAs(creds);
        const answer = JSON.parse((await rawRequest(ecs.url, { method: 'GET', path: ecs.path })).text) as Record<string, string>;
        assert.equal(answer['RoleArn'], podRole.arn);
        const unknown = await rawRequest(ecs.url, { method: 'GET', path: '/v2/credentials/unknown' });
        assert.deepEqual([unknown.status, JSON.parse(unknown.text)], [400, { code: 'InvalidIdInRequest', message: 'CredentialsV2Request: ID not found' }]);
      } finally {
        await ecs.close();
      }
    });
  });
});

/** Checks an AWS SDK error: its name (the service's error code), HTTP status and message. */
function awsError(name: string, status?: number, message?: string | RegExp) {
  return (e: Error & { $metadata?: { httpStatusCode?: number } }): boolean => {
    assert.equal(e.name, name, e.message);
    if (status !== undefined) assert.equal(e.$metadata?.httpStatusCode, status);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  };
}

/** Sets environment variables for the duration of `fn` (the SDK reads them at call time). */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, value] of Object.entries(v)) {
      if (value === undefined) delete process.env[k];
      else process.env[k] = value;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One HTTP/1.1 request with exactly these headers and this path (no client-side normalisation). */
function rawRequest(base: string, o: { method: string; path: string; headers?: Record<string, string>; body?: string }): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: o.method, path: o.path, headers: o.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/**
 * A request signed with smithy's SigV4 as the AWS SDK signs it; `signPath` signs a different
 * path than the one sent, `sendBody` sends a different body than the one signed.
 */
async function signedRequest(base: string, o: {
  method: string; path: string; signPath?: string; query?: Record<string, string>; body?: string; sendBody?: string;
  headers?: Record<string, string>; creds: Creds; region?: string; service?: string;
}): Promise<RawResponse> {
  const u = new URL(base);
  const signer = new SignatureV4({ service: o.service ?? 'bedrock', region: o.region ?? REGION, credentials: o.creds, sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign({
    method: o.method, protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: o.signPath ?? o.path, query: o.query ?? {},
    headers: { host: u.host, ...(o.body === undefined ? {} : { 'content-type': 'application/json' }), ...o.headers }, body: o.body,
  });
  const qs = new URLSearchParams(o.query).toString();
  return rawRequest(base, { method: o.method, path: o.path + (qs ? `?${qs}` : ''), headers: signed.headers, body: o.sendBody ?? o.body });
}
