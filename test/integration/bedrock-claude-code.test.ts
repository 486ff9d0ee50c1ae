import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CountTokensCommand, InvokeModelCommand } from '@aws-sdk/client-bedrock-runtime';
import { AwsAccounts, type IamUser } from '../emulators/aws-accounts.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { emulatedTokenCount } from '../emulators/bedrock-count-tokens.js';
import type { InferenceProfile } from '../emulators/bedrock-inference-profiles.js';
import { sdkWithHeaderKey, signedGet } from '../helpers/bedrock-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The Bedrock routes Claude Code calls besides InvokeModel (issue 14, item 4): the control
 * plane's ListInferenceProfiles / GetInferenceProfile and the runtime's CountTokens, at the root
 * (one base URL for both planes, as `ANTHROPIC_BEDROCK_BASE_URL`) and under `/transparent/bedrock`.
 */

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const US_HAIKU = `us.${HAIKU}`;
const SONNET = 'anthropic.claude-3-5-sonnet-20241022-v2:0';

interface ProfileList {
  inferenceProfileSummaries: InferenceProfile[];
  nextToken?: string;
}

function anthropicBody(text: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 64, messages: [{ role: 'user', content: text }] }));
}

describe('Bedrock inference profiles and CountTokens through the gateway', () => {
  const accounts = new AwsAccounts();
  let user: IamUser;
  /** Bedrock Runtime and the control plane on their own ports, as on AWS (two hosts). */
  let runtime: BedrockEmulator;
  let control: BedrockEmulator;
  let gw: TestGateway;
  let key: string;

  before(async () => {
    user = accounts.addUser('gateway');
    runtime = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
    control = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
    process.env['BEDROCK_CC_SECRET'] = user.secretAccessKey;
    gw = await startGateway({
      rbac: { roles: { writer: { permissions: ['llm:write'] } } },
      instances: {
        bedrock_us1: {
          type: 'bedrock',
          region: 'us-east-1',
          default: true,
          endpoint: runtime.url,
          control_endpoint: control.url,
          authentication: { type: 'access_keys', access_key_id: user.accessKeyId, secret_access_key: '${env:BEDROCK_CC_SECRET}' },
        },
      },
    });
    key = await gw.key({ name: 'claude-code' });
  });
  after(async () => {
    await gw?.close();
    await Promise.all([runtime?.close(), control?.close()]);
  });

  /** Both ways in: the root (instance from X-LLMProxy-Instance or the default) and transparent. */
  const bases = (): Array<[string, string]> => [['root', gw.url], ['transparent', `${gw.url}/transparent/bedrock`]];

  test('ListInferenceProfiles with type=SYSTEM_DEFINED, paged by nextToken, signed by the gateway on the control plane', async () => {
    for (const [where, base] of bases()) {
      control.reset();
      runtime.reset();
      const first = await signedGet(`${base}/inference-profiles?maxResults=3&type=SYSTEM_DEFINED`, key);
      assert.equal(first.status, 200, `${where}: ${await first.clone().text()}`);
      const page1 = (await first.json()) as ProfileList;
      assert.equal(page1.inferenceProfileSummaries.length, 3, where);
      assert.ok(page1.nextToken, `${where}: a second page is announced`);
      assert.deepEqual(control.last.query.split('&').sort(), ['maxResults=3', 'type=SYSTEM_DEFINED'], where);
      assert.equal(control.last.path, '/inference-profiles');
      assert.equal(control.last.caller?.scheme === 'sigv4' ? control.last.caller.arn : undefined, user.arn, `${where}: signed with the gateway's keys`);
      assert.ok(!String(control.last.headers.authorization).includes('AKIDCLIENTDUMMY'), 'the client signature must not reach AWS');
      assert.equal(control.last.headers['x-api-key'], undefined);

      const second = await signedGet(`${base}/inference-profiles?maxResults=3&type=SYSTEM_DEFINED&nextToken=${encodeURIComponent(page1.nextToken)}`, key);
      assert.equal(second.status, 200, where);
      const page2 = (await second.json()) as ProfileList;
      assert.equal(page2.nextToken, undefined, where);
      const ids = [...page1.inferenceProfileSummaries, ...page2.inferenceProfileSummaries].map((p) => p.inferenceProfileId).sort();
      assert.deepEqual(ids, [`global.${SONNET}`, `global.${HAIKU}`, `us.${SONNET}`, US_HAIKU].sort(), `${where}: every system-defined profile once, no application profile`);
      assert.equal(runtime.requests.length, 0, `${where}: the control plane, not the runtime, lists profiles`);
    }
    const application = (await (await signedGet(`${gw.url}/inference-profiles?type=APPLICATION`, key)).json()) as ProfileList;
    assert.deepEqual(application.inferenceProfileSummaries.map((p) => p.type), ['APPLICATION']);
    assert.equal(control.signatureFailures, 0);
  });

  test('ListFoundationModels and GetFoundationModel at the root and transparent, on the control plane', async () => {
    for (const [where, base] of bases()) {
      control.reset();
      const list = await signedGet(`${base}/foundation-models?byProvider=Anthropic`, key);
      assert.equal(list.status, 200, `${where}: ${await list.clone().text()}`);
      const models = ((await list.json()) as { modelSummaries: Array<{ modelId: string }> }).modelSummaries.map((m) => m.modelId);
      assert.ok(models.includes(HAIKU), `${where}: ${models.join(', ')}`);
      assert.equal(control.last.path, '/foundation-models');
      const one = await signedGet(`${base}/foundation-models/${encodeURIComponent(HAIKU)}`, key);
      assert.equal(one.status, 200, where);
      assert.equal(((await one.json()) as { modelDetails: { modelId: string } }).modelDetails.modelId, HAIKU);
      assert.equal(control.last.caller?.scheme, 'sigv4', where);
    }
  });

  test('GetInferenceProfile by id and by %2F-encoded ARN, root and transparent', async () => {
    const arn = `arn:aws:bedrock:us-east-1:${accounts.accountId}:inference-profile/${US_HAIKU}`;
    for (const [where, base] of bases()) {
      for (const identifier of [US_HAIKU, arn]) {
        control.reset();
        const res = await signedGet(`${base}/inference-profiles/${encodeURIComponent(identifier)}`, key);
        assert.equal(res.status, 200, `${where} ${identifier}: ${await res.clone().text()}`);
        const profile = (await res.json()) as InferenceProfile;
        assert.equal(profile.inferenceProfileId, US_HAIKU);
        assert.equal(profile.inferenceProfileArn, arn);
        assert.deepEqual(profile.models, [{ modelArn: `arn:aws:bedrock:us-east-1::foundation-model/${HAIKU}` }]);
        // Forwarded as sent: `:` and `/` stay encoded, so the ARN is still one segment.
        assert.equal(control.last.path, `/inference-profiles/${encodeURIComponent(identifier)}`);
      }
    }
    assert.equal(control.signatureFailures, 0);
  });

  test("an unknown profile: AWS's 404 ResourceNotFoundException passes through in AWS's shape", async () => {
    for (const [where, base] of bases()) {
      const res = await signedGet(`${base}/inference-profiles/us.nope.model-v1%3A0`, key);
      assert.equal(res.status, 404, where);
      assert.match(res.headers.get('x-amzn-errortype') ?? '', /^ResourceNotFoundException:/, where);
      assert.deepEqual(await res.json(), { message: 'Inference profile us.nope.model-v1:0 not found.' });
    }
  });

  test('CountTokens with the AWS SDK returns the count Bedrock computed, root and transparent', async () => {
    const body = anthropicBody('count me');
    for (const [where, base] of bases()) {
      runtime.reset();
      control.reset();
      const client = sdkWithHeaderKey(base, key);
      const out = await client.send(new CountTokensCommand({ modelId: HAIKU, input: { invokeModel: { body } } }));
      assert.equal(out.inputTokens, emulatedTokenCount(body.length), where);
      assert.equal(runtime.last.path, `/model/${encodeURIComponent(HAIKU)}/count-tokens`);
      assert.equal(runtime.last.caller?.scheme === 'sigv4' ? runtime.last.caller.arn : undefined, user.arn);

      const converse = await client.send(new CountTokensCommand({ modelId: HAIKU, input: { converse: { messages: [{ role: 'user', content: [{ text: 'count me' }] }] } } }));
      assert.ok((converse.inputTokens ?? 0) > 0, where);
      assert.equal(control.requests.length, 0, `${where}: CountTokens is a runtime operation`);

      // CountTokens takes the foundation model, not its inference profile (hence the scope alias below).
      await assert.rejects(client.send(new CountTokensCommand({ modelId: US_HAIKU, input: { invokeModel: { body } } })), {
        name: 'ValidationException',
        message: "The provided model doesn't support counting tokens.",
      });
      // A body AWS refuses: the SDK raises its typed exception with AWS's message.
      await assert.rejects(client.send(new CountTokensCommand({ modelId: HAIKU, input: { converse: { messages: [] } } })), (err: Error) => {
        assert.equal(err.name, 'ValidationException');
        assert.match(err.message, /conversation must start with a user message/);
        return true;
      });
    }
    assert.equal(runtime.signatureFailures, 0);
  });

  test('a key scoped to us.anthropic.X may count tokens for anthropic.X, and nothing more', async () => {
    const scoped = await gw.key({ name: 'us-haiku-only', scopes: { instances: null, models: [US_HAIKU] } });
    for (const [where, base] of bases()) {
      const client = sdkWithHeaderKey(base, scoped);
      const counted = await client.send(new CountTokensCommand({ modelId: HAIKU, input: { invokeModel: { body: anthropicBody('hi') } } }));
      assert.ok((counted.inputTokens ?? 0) > 0, where);
      // The profile itself is in scope for invoking…
      await client.send(new InvokeModelCommand({ modelId: US_HAIKU, contentType: 'application/json', body: anthropicBody('hi') }));
      // …but the alias widens CountTokens only: invoking the bare model, or counting another, is refused.
      const refused = [
        () => client.send(new InvokeModelCommand({ modelId: HAIKU, contentType: 'application/json', body: anthropicBody('hi') })),
        () => client.send(new CountTokensCommand({ modelId: SONNET, input: { invokeModel: { body: anthropicBody('hi') } } })),
      ];
      for (const send of refused) {
        runtime.reset();
        await assert.rejects(send(), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(err.$metadata?.httpStatusCode, 403, where);
          // The root routes answer in AWS's shape, so the SDK names the error and keeps the message.
          if (where === 'root') {
            assert.equal(err.name, 'AccessDeniedException');
            assert.match(err.message, /may not use model "anthropic\./);
          }
          return true;
        });
        assert.equal(runtime.requests.length, 0, `${where}: nothing reached Bedrock`);
      }
    }
  });

  test('listing inference profiles is a read: a role without llm:read is refused before Bedrock', async () => {
    const admin = await gw.key({ name: 'admin-for-writer', role: 'admin' });
    const created = await fetch(`${gw.url}/admin/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'writer-only', role: 'writer' }) });
    assert.equal(created.status, 201, await created.clone().text());
    const writer = ((await created.json()) as { key: string }).key;
    for (const [where, base] of bases()) {
      runtime.reset();
      control.reset();
      for (const path of ['/inference-profiles?type=SYSTEM_DEFINED', `/inference-profiles/${encodeURIComponent(US_HAIKU)}`]) {
        const res = await signedGet(base + path, writer);
        assert.equal(res.status, 403, `${where} ${path}`);
        const text = await res.text();
        assert.match(text, /does not grant llm:read/, where);
        if (where === 'root') assert.match(res.headers.get('x-amzn-errortype') ?? '', /^AccessDeniedException/);
      }
      assert.equal(control.requests.length + runtime.requests.length, 0, `${where}: nothing reached Bedrock`);
    }
    // The same key may still call the runtime (llm:write).
    const out = await sdkWithHeaderKey(gw.url, writer).send(new CountTokensCommand({ modelId: HAIKU, input: { invokeModel: { body: anthropicBody('hi') } } }));
    assert.ok((out.inputTokens ?? 0) > 0);
  });

  test('CountTokens is not billed: its usage rows carry zero tokens', async () => {
    const counter = await gw.issued({ name: 'token-counter' });
    const invoker = await gw.issued({ name: 'invoker' });
    const admin = await gw.key({ name: 'admin', role: 'admin' });
    for (let i = 0; i < 2; i++) {
      await sdkWithHeaderKey(gw.url, counter.key).send(new CountTokensCommand({ modelId: HAIKU, input: { invokeModel: { body: anthropicBody('a fairly long prompt to count') } } }));
    }
    // The control: an invocation of the same model is billed.
    await sdkWithHeaderKey(gw.url, invoker.key).send(new InvokeModelCommand({ modelId: HAIKU, contentType: 'application/json', body: anthropicBody('hi') }));
    await gw.settle();
    const res = await fetch(`${gw.url}/admin/v1/usage?by=key&since=1h`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(res.status, 200);
    const rows = ((await res.json()) as { data: Array<Record<string, unknown>> }).data;
    const counted = rows.find((r) => r['group'] === counter.id);
    const invoked = rows.find((r) => r['group'] === invoker.id);
    assert.ok(counted && invoked, JSON.stringify(rows));
    assert.equal(counted['requests'], 2);
    assert.equal(counted['input_tokens'], 0);
    assert.equal(counted['output_tokens'], 0);
    assert.ok((invoked['input_tokens'] as number) > 0 && (invoked['output_tokens'] as number) > 0);
  });
});
