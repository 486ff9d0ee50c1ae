import { JSON_HEADERS, bearer, chat, requestBytes, type Expect, type HttpCase } from './support.js';

/**
 * Protocol-mode bodies: every malformed shape the translators once crashed on, bodies nested
 * past `server.json_depth_limit` (128), bodies that are not JSON objects or lack a model, each
 * sent to an openai-type and an anthropic-type instance through `/openai/{instance}/...` and
 * `/v1/...` (alias). All are 400 `invalid_request` (with the offending field in `param` where
 * the spec names it) and reach nothing upstream; never 500. Then bodies against the server and
 * per-instance `body_limit` (413 `payload_too_large`), declared and chunked.
 */

interface Target {
  name: string;
  path: string;
  model: string;
}

const TARGETS: Target[] = [
  { name: '/openai/oai', path: '/openai/oai/chat/completions', model: 'gpt-4o' },
  { name: '/openai/claude', path: '/openai/claude/chat/completions', model: 'claude-sonnet-4-5' },
  { name: '/v1 alias→oai', path: '/v1/chat/completions', model: 'alias-oai' },
  { name: '/v1 alias→claude', path: '/v1/chat/completions', model: 'alias-claude' },
];

const USER = { role: 'user', content: 'hi' };

/** `[name, body for a model, param]`: param `undefined` = not asserted, a RegExp = a prefix. */
type BodyCase = [string, (model: string) => string, string | RegExp | undefined];

const j = (v: unknown) => JSON.stringify(v);
const withMessages = (messages: unknown, extra: object = {}) => (model: string) => j({ model, messages, max_tokens: 16, ...extra });

/** `depth` nested arrays inside a tool's free-form parameters (5 levels above them). */
function nestedBody(model: string, depth: number, kind: 'array' | 'object' = 'array'): string {
  const open = kind === 'array' ? '['.repeat(depth) : '{"a":'.repeat(depth);
  const close = kind === 'array' ? ']'.repeat(depth) : `1${'}'.repeat(depth)}`;
  return `{"model":${j(model)},"messages":[${j(USER)}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","x":${open}${close}}}}]}`;
}

const BODIES: BodyCase[] = [
  ['messages: [null]', withMessages([null]), 'messages[0]'],
  ['messages: [42]', withMessages([42]), 'messages[0]'],
  ['messages: [[]]', withMessages([[]]), 'messages[0]'],
  ['content: 42', withMessages([{ role: 'user', content: 42 }]), 'messages[0].content'],
  ['content: {}', withMessages([{ role: 'user', content: {} }]), 'messages[0].content'],
  ['content: true', withMessages([{ role: 'user', content: true }]), 'messages[0].content'],
  ['content: [null]', withMessages([{ role: 'user', content: [null] }]), /^messages\[0\]\.content/],
  ['content part text: 42', withMessages([{ role: 'user', content: [{ type: 'text', text: 42 }] }]), /^messages\[0\]\.content\[0\]/],
  ['image_url: null', withMessages([{ role: 'user', content: [{ type: 'image_url', image_url: null }] }]), 'messages[0].content[0].image_url'],
  ['image_url: 42', withMessages([{ role: 'user', content: [{ type: 'image_url', image_url: 42 }] }]), /^messages\[0\]\.content\[0\]\.image_url/],
  ['image_url.url: {}', withMessages([{ role: 'user', content: [{ type: 'image_url', image_url: { url: {} } }] }]), /^messages\[0\]\.content\[0\]\.image_url/],
  ['role: 42', withMessages([{ role: 42, content: 'hi' }]), /^messages\[0\]/],
  ['tools: "x"', withMessages([USER], { tools: 'x' }), 'tools'],
  ['tools: [null]', withMessages([USER], { tools: [null] }), 'tools[0]'],
  ['tools: {}', withMessages([USER], { tools: {} }), 'tools'],
  ['tools[0].function: 42', withMessages([USER], { tools: [{ type: 'function', function: 42 }] }), /^tools\[0\]/],
  ['tool_calls: "x"', withMessages([USER, { role: 'assistant', content: null, tool_calls: 'x' }, USER]), /^messages\[1\]\.tool_calls/],
  ['tool_calls: [null]', withMessages([USER, { role: 'assistant', content: null, tool_calls: [null] }, USER]), /^messages\[1\]\.tool_calls\[0\]/],
  ['tool_calls[0].function: 42', withMessages([USER, { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: 42 }] }, USER]), /^messages\[1\]\.tool_calls\[0\]/],
  ['tool_calls[0].function.arguments: {}', withMessages([USER, { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: {} } }] }, USER]), /^messages\[1\]\.tool_calls\[0\]/],
  ['tool_calls[0].id: 7', withMessages([USER, { role: 'assistant', content: null, tool_calls: [{ id: 7, type: 'function', function: { name: 'f', arguments: '{}' } }] }, USER]), /^messages\[1\]\.tool_calls\[0\]/],
  ['max_tokens: "lots"', withMessages([USER], { max_tokens: 'lots' }), 'max_tokens'],
  ['messages: "x"', (model) => j({ model, messages: 'x' }), /^messages/],
  ['messages: {}', (model) => j({ model, messages: {} }), /^messages/],
  ['messages: []', (model) => j({ model, messages: [] }), /^messages/],
  ['messages missing', (model) => j({ model }), undefined],
  ['model missing', () => j({ messages: [USER] }), undefined],
  ['model: 42', () => j({ model: 42, messages: [USER] }), undefined],
  ['model: null', () => j({ model: null, messages: [USER] }), undefined],
  ['model only in __proto__', (model) => `{"__proto__":{"model":${j(model)}},"messages":[${j(USER)}]}`, undefined],
  ['not JSON', () => '{"model": ', undefined],
  ['empty body', () => '', undefined],
  ['JSON array', (model) => j([{ model, messages: [USER] }]), undefined],
  ['JSON string', () => j('hello'), undefined],
  ['JSON null', () => 'null', undefined],
  ['nested 200 arrays deep', (model) => nestedBody(model, 200), undefined],
  ['nested 200 objects deep', (model) => nestedBody(model, 200, 'object'), undefined],
  ['nested 10,000 arrays deep', (model) => nestedBody(model, 10_000), undefined],
  ['nested 100,000 arrays deep', (model) => nestedBody(model, 100_000), undefined],
];

const INVALID: Omit<Expect, 'param'> = { status: 400, code: 'invalid_request', forwarded: 0 };

export function bodyCases(key: () => string): HttpCase[] {
  const cases: HttpCase[] = [];
  const post = (path: string, body: string | Buffer) => () => ({ method: 'POST', path, headers: { ...bearer(key()), ...JSON_HEADERS }, body });
  for (const t of TARGETS) {
    cases.push({ name: `${t.name}: a valid body → 200 (baseline)`, request: post(t.path, chat(t.model)), expect: { status: 200, forwarded: 1 } });
    cases.push({ name: `${t.name}: nested 100 deep (under the limit) → 200`, request: post(t.path, nestedBody(t.model, 100)), expect: { status: 200, forwarded: 1 } });
    for (const [name, body, param] of BODIES) {
      cases.push({ name: `${t.name}: ${name} → 400`, request: post(t.path, body(t.model)), expect: param === undefined ? INVALID : { ...INVALID, param } });
    }
  }
  return [...cases, ...limitCases(key)];
}

/** `text` as one chunk of chunked transfer coding, with the last chunk. */
function chunked(text: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${text.length.toString(16)}\r\n`), text, Buffer.from('\r\n0\r\n\r\n')]);
}

const MB = 1024 * 1024;
const bigChat = (model: string, bytes: number) => chat(model, { messages: [{ role: 'user', content: 'x'.repeat(bytes) }] });

/** Body limits: the server's (3 MB in the test config) and the instance `small`'s (1 MB). */
function limitCases(key: () => string): HttpCase[] {
  const TOO_LARGE: Expect = { status: 413, code: 'payload_too_large', forwarded: 0 };
  /** Headers first, the body a moment later: the answer to declared sizes comes before the body is sent. */
  const declared = (path: string, body: string, auth = true): Pick<HttpCase, 'request' | 'pieces' | 'gapMs'> => ({
    request: () => Buffer.alloc(0),
    pieces: () => {
      const head = requestBytes({ method: 'POST', path, headers: { ...(auth ? bearer(key()) : {}), ...JSON_HEADERS, 'content-length': String(Buffer.byteLength(body)) } });
      return [head, Buffer.from(body)];
    },
    gapMs: 100,
  });
  /** Chunked: the first 1.2 MB, a pause (the limit is crossed and answered), then the rest. */
  const chunkedPieces = (path: string, body: string): Pick<HttpCase, 'request' | 'pieces' | 'gapMs'> => ({
    request: () => Buffer.alloc(0),
    pieces: () => {
      const head = requestBytes({ method: 'POST', path, headers: { ...bearer(key()), ...JSON_HEADERS, 'transfer-encoding': 'chunked' } });
      const all = chunked(Buffer.from(body));
      const cut = Math.floor(1.2 * MB);
      return [head, all.subarray(0, cut), all.subarray(cut)];
    },
    gapMs: 150,
  });
  return [
    { name: 'limit: 2 MB declared to /openai/small (body_limit 1mb) → 413', ...declared('/openai/small/chat/completions', bigChat('gpt-4o', 2 * MB)), expect: TOO_LARGE },
    { name: 'limit: 2 MB chunked to /openai/small → 413', ...chunkedPieces('/openai/small/chat/completions', bigChat('gpt-4o', 2 * MB)), expect: TOO_LARGE },
    { name: 'limit: 2 MB declared to /v1 alias→small → 413', ...declared('/v1/chat/completions', bigChat('alias-small', 2 * MB)), expect: TOO_LARGE },
    { name: 'limit: 2 MB chunked to /v1 alias→small → 413', ...chunkedPieces('/v1/chat/completions', bigChat('alias-small', 2 * MB)), expect: TOO_LARGE },
    { name: 'limit: 2 MB declared to /transparent/small → 413', ...declared('/transparent/small/v1/chat/completions', bigChat('gpt-4o', 2 * MB)), expect: TOO_LARGE },
    { name: 'limit: 900 KB to /openai/small → 200', request: post2(key, '/openai/small/chat/completions', bigChat('gpt-4o', 900 * 1024)), expect: { status: 200, forwarded: 1 } },
    { name: 'limit: 2 MB to /openai/oai (server limit 3mb) → 200', request: post2(key, '/openai/oai/chat/completions', bigChat('gpt-4o', 2 * MB)), expect: { status: 200, forwarded: 1 } },
    { name: 'limit: 4 MB declared to /openai/oai (server limit 3mb) → 413', ...declared('/openai/oai/chat/completions', bigChat('gpt-4o', 4 * MB)), expect: TOO_LARGE },
    { name: 'limit: 4 MB declared to /v1 alias→claude → 413', ...declared('/v1/chat/completions', bigChat('alias-claude', 4 * MB)), expect: TOO_LARGE },
    { name: 'limit: 4 MB without a credential → 401, body never read', ...declared('/openai/oai/chat/completions', bigChat('gpt-4o', 4 * MB), false), expect: { status: 401, code: 'unauthorized', forwarded: 0 } },
  ];
}

function post2(key: () => string, path: string, body: string) {
  return () => ({ method: 'POST', path, headers: { ...bearer(key()), ...JSON_HEADERS }, body });
}
