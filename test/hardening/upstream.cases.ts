import assert from 'node:assert/strict';
import { FORGED_HEADERS, REPLY_TEXT } from '../emulators/hostile.js';
import { ANT_KEY, ECHO_SUFFIX, JSON_HEADERS, OAI_KEY, bearer, chat, errorOf, sseData, type Expect, type HttpCase, type RawAnswer } from './support.js';

/**
 * Upstream misbehaviour: provider errors whose message echoes the provider key (and a longer
 * registered secret containing it), answers nested 50,000 deep, bodies cut mid-JSON, resets,
 * stalls, HTML, an SSE line past `server.stream_line_limit` (64 KB in the test config),
 * truncated and reset streams, forged `X-LLMProxy-*` and `Set-Cookie` headers; in protocol mode
 * (openai- and anthropic-type instances, with and without `stream`) and in transparent mode.
 */

type Instance = 'oai' | 'claude';
const INSTANCES: Instance[] = ['oai', 'claude'];
export const REQUEST_ID = 'hardening-upstream-0001';

function protocol(key: () => string, instance: Instance, directive: string, stream: boolean) {
  return () => ({
    method: 'POST',
    path: `/openai/${instance}/chat/completions`,
    headers: { ...bearer(key()), ...JSON_HEADERS, 'x-request-id': REQUEST_ID },
    body: chat(directive, stream ? { stream: true } : {}),
  });
}

function transparent(key: () => string, instance: Instance, directive: string, stream = false) {
  return () => ({
    method: 'POST',
    path: instance === 'oai' ? '/transparent/oai/v1/chat/completions' : '/transparent/claude/v1/messages',
    headers: { ...bearer(key()), ...JSON_HEADERS, 'anthropic-version': '2023-06-01', 'x-request-id': REQUEST_ID },
    body: chat(directive, stream ? { stream: true } : {}),
  });
}

/** The provider's message reached the client, with every secret in it replaced whole. */
function scrubbedMessage(a: RawAnswer): void {
  const message = String(errorOf(a)?.message);
  assert.ok(message.includes('[REDACTED]'), `the provider's message is relayed, scrubbed: ${message}`);
  for (const secret of [OAI_KEY, ANT_KEY, ECHO_SUFFIX, OAI_KEY.slice(-12), ANT_KEY.slice(-12)]) assert.ok(!message.includes(secret), 'no secret and no tail of one');
}

/** Status → what protocol mode answers, and whether the provider's (scrubbed) message is relayed. */
const PROTOCOL_ERRORS: Array<[number, number, string, boolean]> = [
  [400, 400, 'upstream_bad_request', true],
  [422, 400, 'upstream_bad_request', true],
  [404, 404, 'upstream_not_found', true],
  [429, 429, 'upstream_rate_limited', true],
  [500, 502, 'upstream_error', true],
  [502, 502, 'upstream_error', true],
  [503, 502, 'upstream_error', true],
  [401, 502, 'upstream_credential_rejected', false],
  [403, 502, 'upstream_credential_rejected', false],
];

/** The SSE body ends with an error object and no `[DONE]`. */
function endsWithSseError(code?: string) {
  return (a: RawAnswer) => {
    const data = sseData(a.text);
    assert.ok(!data.includes('[DONE]'), 'no [DONE] after a failure');
    const last = JSON.parse(data.at(-1) ?? '{}') as { error?: { code?: unknown } };
    assert.ok(last.error, `the stream ends with an error object: ${a.text.slice(-300)}`);
    assert.equal(typeof last.error.code, 'string');
    if (code !== undefined) assert.equal(last.error.code, code);
    assert.ok(a.complete, 'the error event ends the stream cleanly');
  };
}

function aborted(a: RawAnswer): void {
  assert.equal(a.status, 200);
  assert.equal(a.complete, false, 'the client sees an aborted response, not a clean end');
}

function noForgedHeaders(a: RawAnswer): void {
  for (const [name, value] of Object.entries(FORGED_HEADERS)) {
    if (name === 'x-llmproxy-request-id') continue;
    assert.notEqual(a.headers[name], value, `${name} from the upstream must not reach the client`);
  }
  assert.equal(a.headers['set-cookie'], undefined);
  assert.equal(a.headers['x-llmproxy-instance'], undefined);
  assert.equal(a.headers['x-llmproxy-request-id'], REQUEST_ID, "the gateway's own request id");
}

export function upstreamCases(key: () => string): HttpCase[] {
  const cases: HttpCase[] = [];
  const one = (status: number, code: string | undefined, check?: Expect['check']): Expect => ({ status, ...(code ? { code } : {}), forwarded: 1, ...(check ? { check } : {}) });

  for (const instance of INSTANCES) {
    for (const stream of [false, true]) {
      const mode = `protocol ${instance}${stream ? ' stream' : ''}`;
      for (const [upstream, status, code, relayed] of PROTOCOL_ERRORS) {
        cases.push({
          name: `${mode}: upstream ${upstream} echoing the key → ${status} ${code}${relayed ? ', message scrubbed' : ''}`,
          request: protocol(key, instance, `err-${upstream}`, stream),
          expect: one(status, code, (a) => {
            if (relayed) scrubbedMessage(a);
            if (upstream === 429) assert.equal(a.headers['retry-after'], '7');
          }),
        });
      }
      cases.push({ name: `${mode}: upstream reset before answering → 502 upstream_unreachable`, request: protocol(key, instance, 'reset', stream), expect: one(502, 'upstream_unreachable') });
      cases.push({ name: `${mode}: upstream silent past first_byte → 504 upstream_timeout`, request: protocol(key, instance, 'stall', stream), expect: one(504, 'upstream_timeout') });
      cases.push({ name: `${mode}: forged X-LLMProxy-* and Set-Cookie headers never reach the client`, request: protocol(key, instance, 'headers', stream), expect: one(200, undefined, noForgedHeaders) });
      cases.push({
        name: `${mode}: slow but well-formed answer → 200`,
        request: protocol(key, instance, 'slow-200', stream),
        expect: one(200, undefined, (a) => assert.ok(a.text.includes(REPLY_TEXT))),
      });
    }
    const json = `protocol ${instance}`;
    cases.push({ name: `${json}: answer nested 50,000 deep → 502 upstream_error`, request: protocol(key, instance, 'deep', false), expect: one(502, 'upstream_error') });
    cases.push({ name: `${json}: answer cut mid-JSON → 502 upstream_error`, request: protocol(key, instance, 'cut', false), expect: one(502, 'upstream_error') });
    cases.push({ name: `${json}: HTML instead of JSON → 502 upstream_error`, request: protocol(key, instance, 'html', false), expect: one(502, 'upstream_error') });
    const sse = `protocol ${instance} stream`;
    cases.push({ name: `${sse}: SSE line over stream_line_limit → ends with an SSE error object`, request: protocol(key, instance, 'longline', true), expect: one(200, undefined, endsWithSseError()) });
    cases.push({ name: `${sse}: truncated stream → ends with upstream_stream_incomplete`, request: protocol(key, instance, 'truncated', true), expect: one(200, undefined, endsWithSseError('upstream_stream_incomplete')) });
    cases.push({ name: `${sse}: stream reset mid-way → ends with an SSE error object`, request: protocol(key, instance, 'stream-reset', true), expect: one(200, undefined, endsWithSseError()) });

    // Transparent mode: the provider's own answers pass through (error text with every secret
    // masked); the gateway's credential problems do not.
    const tr = `transparent ${instance}`;
    for (const status of [400, 403, 404, 429, 500, 503]) {
      cases.push({
        name: `${tr}: upstream ${status} passes through unchanged`,
        request: transparent(key, instance, `plain-${status}`),
        expect: one(status, undefined, (a) => {
          const type = status === 429 ? 'rate_limit_error' : 'invalid_request_error';
          const message = `hostile plain error ${status}`;
          assert.deepEqual(JSON.parse(a.text), instance === 'oai' ? { error: { message, type, param: null, code: null } } : { type: 'error', error: { type, message } });
        }),
      });
    }
    for (const status of [400, 403, 404, 422, 429, 500, 503]) {
      cases.push({
        name: `${tr}: upstream ${status} echoing the key passes through with every secret masked`,
        request: transparent(key, instance, `err-${status}`),
        expect: one(status, undefined, scrubbedMessage),
      });
    }
    cases.push({
      name: `${tr}: upstream 401 echoing the key → 502 upstream_credential_rejected, provider body withheld`,
      request: transparent(key, instance, 'err-401'),
      expect: one(502, 'upstream_credential_rejected', (a) => assert.ok(!a.text.includes('Incorrect API key'))),
    });
    cases.push({ name: `${tr}: upstream reset → 502 upstream_unreachable`, request: transparent(key, instance, 'reset'), expect: one(502, 'upstream_unreachable') });
    cases.push({ name: `${tr}: upstream silent → 504 upstream_timeout`, request: transparent(key, instance, 'stall'), expect: one(504, 'upstream_timeout') });
    cases.push({
      name: `${tr}: answer nested 50,000 deep passes through byte for byte`,
      request: transparent(key, instance, 'deep'),
      expect: one(200, undefined, (a) => assert.equal(a.text, `{"id":"deep","choices":${'['.repeat(50_000)}${']'.repeat(50_000)}}`)),
    });
    cases.push({ name: `${tr}: HTML passes through`, request: transparent(key, instance, 'html'), expect: one(200, undefined, (a) => assert.match(a.text, /^<html>/)) });
    cases.push({ name: `${tr}: body cut mid-JSON → the client sees an aborted response`, request: transparent(key, instance, 'cut'), expect: one(200, undefined, aborted) });
    cases.push({ name: `${tr}: stream reset mid-way → aborted`, request: transparent(key, instance, 'stream-reset', true), expect: one(200, undefined, aborted) });
    cases.push({ name: `${tr}: SSE line over stream_line_limit → aborted`, request: transparent(key, instance, 'longline', true), expect: one(200, undefined, aborted) });
    cases.push({
      name: `${tr}: truncated stream passes through as sent (clean end)`,
      request: transparent(key, instance, 'truncated', true),
      expect: one(200, undefined, (a) => {
        assert.equal(a.complete, true);
        assert.equal(sseData(a.text).length, 2);
      }),
    });
    cases.push({ name: `${tr}: forged X-LLMProxy-* and Set-Cookie headers never reach the client`, request: transparent(key, instance, 'headers'), expect: one(200, undefined, noForgedHeaders) });
    cases.push({ name: `${tr} stream: forged headers never reach the client`, request: transparent(key, instance, 'headers', true), expect: one(200, undefined, noForgedHeaders) });
  }
  return cases;
}
