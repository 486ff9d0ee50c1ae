import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { toAnthropicMessages } from './anthropic-messages/request.js';
import { leadingParam, refusal } from './translator.js';

describe('translator refusals name their field', () => {
  const cases: Array<[string, string | undefined]> = [
    ['temperature: Anthropic accepts 0 to 1, got 1.5', 'temperature'],
    ['messages[2].content[0]: tool messages take text parts only', 'messages[2].content[0]'],
    ['tools[0].function.name is required', 'tools[0].function.name'],
    ['n=2 is not supported', 'n'],
    ['stop must be a string or an array of strings', 'stop'],
    ['response_format.json_schema is required', 'response_format.json_schema'],
    ['metadata: this parameter is not supported by the watsonx translation', 'metadata'],
    ['messages must be an array', 'messages'],
    ['tool_choice requires "tools"', 'tool_choice'],
    // Not a field: a provider name, a sentence, a quoted model.
    ['watsonx.ai embeddings do not support "x"', undefined],
    ['unknown parameter "frobnicate"', undefined],
    ['the request body is not valid JSON', undefined],
    ['"gpt-x" is not a deployment', undefined],
    ['Bedrock Titan embeds one input per request', undefined],
    ['messagesX: no', undefined],
  ];
  for (const [message, param] of cases) test(`"${message}" → ${param ?? 'no param'}`, () => assert.equal(leadingParam(message), param));

  test('refusal() is a 400 invalid_request with that param', () => {
    const err = refusal('top_p: out of range');
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'invalid_request');
    assert.equal(err.status, 400);
    assert.equal(err.param, 'top_p');
  });

  test('a translator refusal reaches the client with its param (Anthropic, temperature above 1)', () => {
    assert.throws(
      () => toAnthropicMessages({ model: 'claude', messages: [{ role: 'user', content: 'hi' }], temperature: 1.5 }),
      (err: unknown) => err instanceof GatewayError && err.code === 'invalid_request' && err.param === 'temperature',
    );
  });
});
