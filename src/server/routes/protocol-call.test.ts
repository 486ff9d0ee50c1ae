import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import { RequestContext } from '../../request/context.js';
import type { Req, Res } from '../../util/http.js';
import { callOf, parseCall } from './protocol-call.js';
import { CHAT } from './protocol.js';
import { EMBEDDINGS } from './protocol-embeddings.js';

function context(body: string | null): RequestContext {
  const ctx = new RequestContext({ headers: {}, method: 'POST', url: '/v1/chat/completions' } as unknown as Req, {} as Res);
  ctx.body = body === null ? null : Buffer.from(body);
  return ctx;
}

/** Runs parseCall(op) on `body`: the error it threw, or the body it kept for the chain. */
async function parse(op: typeof CHAT | typeof EMBEDDINGS, body: string | null, depth?: number): Promise<{ error?: GatewayError; kept?: unknown }> {
  const ctx = context(body);
  let reached = false;
  try {
    await parseCall(op as typeof CHAT, depth)(ctx, async () => {
      reached = true;
    });
  } catch (err) {
    assert.ok(err instanceof GatewayError, `not a GatewayError: ${String(err)}`);
    assert.equal(reached, false);
    return { error: err };
  }
  assert.equal(reached, true);
  return { kept: callOf(ctx).body };
}

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const chat = (fields: Record<string, unknown>) => JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...fields });

describe('parseCall: every protocol body is checked before anything is translated', () => {
  // The attacker campaign's bodies (issue 11, defect 4): each crashed the Anthropic translator.
  const hostile: Array<[string, string, string]> = [
    ['messages: [null]', chat({ messages: [null] }), 'messages[0]'],
    ['content: 42', chat({ messages: [{ role: 'user', content: 42 }] }), 'messages[0].content'],
    ['content: {...}', chat({ messages: [{ role: 'user', content: { text: 'x' } }] }), 'messages[0].content'],
    ['tools: "x"', chat({ tools: 'x' }), 'tools'],
    ['tools: [null]', chat({ tools: [null] }), 'tools[0]'],
    ['tool_calls of the wrong type', chat({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', tool_calls: [{ id: 'c', type: 'x', function: { name: 'f', arguments: '{}' } }] }] }), 'messages[1].tool_calls[0].type'],
    ['tool_calls: [42]', chat({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', tool_calls: [42] }] }), 'messages[1].tool_calls[0]'],
    ['image_url: null', chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: null }] }] }), 'messages[0].content[0].image_url'],
  ];
  for (const [name, body, param] of hostile) {
    test(`${name} → 400 invalid_request, param ${param}`, async () => {
      const { error } = await parse(CHAT, body);
      assert.equal(error?.code, 'invalid_request');
      assert.equal(error?.status, 400);
      assert.equal(error?.param, param);
    });
  }

  test('the messages the existing clients and tests rely on are kept', async () => {
    assert.equal((await parse(CHAT, 'not json')).error?.message, 'the request body is not valid JSON');
    assert.equal((await parse(CHAT, null)).error?.message, 'the request body is not valid JSON');
    assert.equal((await parse(CHAT, '[]')).error?.message, 'the request body must be a JSON object');
    const noModel = (await parse(CHAT, '{"messages":[]}')).error;
    assert.equal(noModel?.message, '"model" is required');
    assert.equal(noModel?.param, 'model');
    const noMessages = (await parse(CHAT, '{"model":"gpt-4o"}')).error;
    assert.equal(noMessages?.message, '"messages" must be a non-empty array');
    assert.equal(noMessages?.param, 'messages');
    assert.equal((await parse(EMBEDDINGS, '{"model":"e","input":"x","encoding_format":"hex"}')).error?.message, '"encoding_format" must be "float" or "base64"');
  });

  test('a valid body is kept for the chain as the client sent it', async () => {
    const body = chat({ stream: true, stream_options: { include_usage: true }, future_field: 1 });
    assert.deepEqual((await parse(CHAT, body)).kept, JSON.parse(body));
    assert.deepEqual((await parse(EMBEDDINGS, '{"model":"e","input":["a"]}')).kept, { model: 'e', input: ['a'] });
  });

  test('nesting: refused past server.json_depth_limit (default 128) before parsing, with the limit in the message', async () => {
    const withExtra = (depth: number) => `${chat({}).slice(0, -1)},"extra":${nested(depth)}}`;
    const deep = (await parse(CHAT, withExtra(10_000))).error;
    assert.equal(deep?.code, 'invalid_request');
    assert.equal(deep?.param, undefined);
    assert.match(deep?.message ?? '', /deeper than 128 levels/);
    // The body's own object is one level: 127 more fit under the default, 128 do not.
    assert.ok((await parse(CHAT, withExtra(127))).kept);
    assert.match((await parse(CHAT, withExtra(128))).error?.message ?? '', /deeper than 128 levels/);
    assert.match((await parse(EMBEDDINGS, `{"model":"e","input":${nested(20)}}`, 16)).error?.message ?? '', /deeper than 16 levels/);
  });
});
