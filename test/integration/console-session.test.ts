import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { totpFor } from '../../src/clientauth/totp/codes.js';
import { enrolTotp } from '../../src/clientauth/totp/enrol.js';
import { TotpSecretBox } from '../../src/clientauth/totp/secret-box.js';
import { request as httpsRequest } from 'node:https';
import { OpenAIEmulator } from '../emulators/openai.js';
import { selfSignedCert } from '../helpers/net.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const PROVIDER_KEY = 'sk-provider-console-test-5e6f7a8b9c0d1e2f';
process.env['CONSOLE_TEST_OPENAI_KEY'] = PROVIDER_KEY;

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

/** A browser's view of the console: the cookie it holds and the CSRF token the page keeps in memory. */
class ConsoleClient {
  cookie: string | undefined;
  csrf: string | undefined;
  constructor(private readonly gw: TestGateway) {}

  async call(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...extra };
    if (this.cookie !== undefined) headers['cookie'] = this.cookie;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.gw.url + path, { method, headers, redirect: 'manual', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  async signIn(body: Record<string, unknown>): Promise<Answer> {
    const r = await this.call('POST', '/console/api/session', body);
    const setCookie = r.headers.get('set-cookie');
    if (r.status === 200 && setCookie) {
      this.cookie = setCookie.split(';')[0];
      this.csrf = r.json['csrf_token'] as string;
    }
    return r;
  }

  /** An admin API call as the page makes it: cookie plus X-CSRF-Token. */
  admin(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Answer> {
    return this.call(method, `/admin/v1/${path}`, body, { 'x-csrf-token': this.csrf ?? '', ...extra });
  }
}

const errorCode = (a: Answer) => (a.json['error'] as { code: string } | undefined)?.code;

describe('console sessions: sign-in, cookie, CSRF, roles, sign-out', () => {
  let emu: OpenAIEmulator;
  let gw: TestGateway;
  let adminKey: { key: string; id: string };

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    gw = await startGateway({
      auth: { api_keys: { bootstrap_admin: false, revocation_poll: '100ms' }, basic: { enabled: true, change_poll: '100ms' } },
      instances: { primary: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${env:CONSOLE_TEST_OPENAI_KEY}' } } },
    });
    adminKey = await gw.issued({ name: 'console-admin', role: 'admin', user: 'ops@example.com' });
  });

  after(async () => {
    await gw.close();
    await emu.close();
  });

  test('api/info names the sign-in methods; api/session without a cookie is 401 and counts as no failed attempt', async () => {
    const c = new ConsoleClient(gw);
    const info = await c.call('GET', '/console/api/info');
    assert.equal(info.status, 200);
    assert.deepEqual(info.json['sign_in'], { api_key: true, basic: true, oidc: [] });
    for (let i = 0; i < 30; i++) assert.equal((await c.call('GET', '/console/api/session')).status, 401);
    // 30 page loads did not get this address throttled: a real sign-in still works.
    assert.equal((await c.signIn({ method: 'api_key', key: adminKey.key })).status, 200);
  });

  test('signing in with an admin key sets an HttpOnly SameSite=Strict cookie and answers who, what and the CSRF token', async () => {
    const c = new ConsoleClient(gw);
    const r = await c.signIn({ method: 'api_key', key: adminKey.key });
    assert.equal(r.status, 200);
    const setCookie = r.headers.get('set-cookie')!;
    assert.match(setCookie, /^llmproxy_console=llms_\w+; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/, 'no Secure on plain HTTP');
    assert.equal(setCookie.includes(adminKey.key), false, 'the cookie is not the key');
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
    const principal = r.json['principal'] as Record<string, unknown>;
    assert.equal(principal['kind'], 'api-key');
    assert.deepEqual(principal['roles'], ['admin']);
    assert.ok((r.json['permissions'] as string[]).includes('llm:admin'));
    assert.equal(typeof r.json['csrf_token'], 'string');
    assert.equal(r.json['idle_timeout_seconds'], 1800);
    assert.equal(JSON.stringify(r.json).includes(adminKey.key), false, 'the key is not echoed');
    const again = await c.call('GET', '/console/api/session');
    assert.equal(again.status, 200);
    assert.equal(again.json['csrf_token'], r.json['csrf_token']);
  });

  test('the cookie reads the admin API; a change needs the CSRF token and the own origin, else 403 and nothing changes', async () => {
    const c = new ConsoleClient(gw);
    await c.signIn({ method: 'api_key', key: adminKey.key });
    const before = (await c.admin('GET', 'keys')).json['data'] as unknown[];
    assert.ok(before.length >= 1);
    const noToken = await c.call('POST', '/admin/v1/keys', { name: 'csrf-1' });
    assert.equal(noToken.status, 403);
    assert.equal(errorCode(noToken), 'csrf_failed');
    const wrongToken = await c.admin('POST', 'keys', { name: 'csrf-2' }, { 'x-csrf-token': 'x'.repeat(43) });
    assert.equal(errorCode(wrongToken), 'csrf_failed');
    const otherOrigin = await c.admin('POST', 'keys', { name: 'csrf-3' }, { origin: 'http://evil.example' });
    assert.equal(errorCode(otherOrigin), 'csrf_failed');
    assert.equal(((await c.admin('GET', 'keys')).json['data'] as unknown[]).length, before.length, 'no key was created');
    await gw.settle();
    const denied = (await c.admin('GET', 'audit?result=denied')).json['data'] as Array<Record<string, unknown>>;
    assert.ok(denied.some((e) => e['reason'] === 'csrf_failed' && e['method'] === 'console'), 'CSRF refusals are audited');
    const ok = await c.admin('POST', 'keys', { name: 'made-in-console' }, { origin: gw.url });
    assert.equal(ok.status, 201);
  });

  test('the cookie is no credential on inference routes', async () => {
    const c = new ConsoleClient(gw);
    await c.signIn({ method: 'api_key', key: adminKey.key });
    const r = await c.call('POST', '/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }, { 'x-csrf-token': c.csrf! });
    assert.equal(r.status, 401);
    assert.equal(emu.requests.length, 0, 'nothing reached the provider');
  });

  test('a developer key may not use the console (403); a wrong key gets the one 401; neither sets a cookie', async () => {
    const c = new ConsoleClient(gw);
    const dev = await gw.key({ name: 'dev', role: 'developer' });
    const r = await c.signIn({ method: 'api_key', key: dev });
    assert.equal(r.status, 403);
    assert.equal(errorCode(r), 'permission_denied');
    assert.equal(r.headers.get('set-cookie'), null);
    const wrong = await c.signIn({ method: 'api_key', key: `${adminKey.key.slice(0, -4)}AAAA` });
    assert.equal(wrong.status, 401);
    assert.equal(errorCode(wrong), 'unauthorized');
    assert.equal(wrong.headers.get('set-cookie'), null);
  });

  test('bad sign-in bodies are 400s naming the field', async () => {
    const c = new ConsoleClient(gw);
    assert.match(((await c.signIn({ method: 'api_key' })).json['error'] as { message: string }).message, /^key: /);
    assert.match(((await c.signIn({ method: 'basic', user: 'x' })).json['error'] as { message: string }).message, /^password: /);
    assert.equal((await c.signIn({ method: 'carrier-pigeon' })).status, 400);
    assert.equal((await c.call('POST', '/console/api/session', undefined, { 'content-type': 'application/json' })).status, 400);
  });

  test('a viewer signs in and reads, but every change is refused by the API (403) and nothing changes', async () => {
    const c = new ConsoleClient(gw);
    const viewer = await gw.key({ name: 'viewer', role: 'viewer' });
    const r = await c.signIn({ method: 'api_key', key: viewer });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json['permissions'], ['llm:read', 'admin:read', 'secrets:read', 'metrics:read']);
    assert.equal((await c.admin('GET', 'lockdown')).status, 200);
    const change = await c.admin('POST', 'lockdown', { on: true, reason: 'viewer tries' });
    assert.equal(change.status, 403);
    assert.equal(errorCode(change), 'permission_denied');
    assert.equal((await c.admin('GET', 'lockdown')).json['on'], false);
  });

  test('a Basic user with a required TOTP: no code → totp_required, then the code signs in; the password never reaches a log', async () => {
    const password = 'correct horse battery staple 42';
    const created = await new ConsoleClient(gw).call('POST', '/admin/v1/users', { name: 'carol', role: 'admin', password }, { authorization: `Bearer ${adminKey.key}` });
    assert.equal(created.status, 201);
    const enrolment = await enrolTotp(gw.app.store.identity.totp, new TotpSecretBox(undefined), 'user:carol', 'test', true);
    const c = new ConsoleClient(gw);
    const missing = await c.signIn({ method: 'basic', user: 'carol', password });
    assert.equal(missing.status, 401);
    assert.equal(errorCode(missing), 'totp_required');
    const ok = await c.signIn({ method: 'basic', user: 'carol', password, totp: totpFor(enrolment.secret).generate() });
    assert.equal(ok.status, 200);
    assert.equal((ok.json['principal'] as Record<string, unknown>)['name'], 'carol');
    assert.equal((await c.admin('GET', 'users')).status, 200);
    await gw.settle();
    for (const line of gw.logs) assert.equal(line.includes(password) || line.includes(enrolment.secret), false, line);
  });

  test('revoking the key behind a session ends the session at once', async () => {
    const k = await gw.issued({ name: 'short-lived-admin', role: 'admin' });
    const c = new ConsoleClient(gw);
    await c.signIn({ method: 'api_key', key: k.key });
    assert.equal((await c.admin('GET', 'keys')).status, 200);
    assert.equal((await new ConsoleClient(gw).call('POST', `/admin/v1/keys/${k.id}/revoke`, {}, { authorization: `Bearer ${adminKey.key}` })).status, 200);
    assert.equal((await c.admin('GET', 'keys')).status, 401);
    assert.equal((await c.call('GET', '/console/api/session')).status, 401);
  });

  test('sign-out (with the CSRF token) ends the session everywhere and clears the cookie', async () => {
    const c = new ConsoleClient(gw);
    await c.signIn({ method: 'api_key', key: adminKey.key });
    const noToken = await c.call('DELETE', '/console/api/session');
    assert.equal(noToken.status, 403, 'sign-out needs the CSRF token too');
    const out = await c.call('DELETE', '/console/api/session', undefined, { 'x-csrf-token': c.csrf! });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie')!, /^llmproxy_console=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/);
    assert.equal((await c.call('GET', '/console/api/session')).status, 401);
    assert.equal((await c.admin('GET', 'keys')).status, 401);
  });

  test('a console cookie is not a bearer session token, and a session token is not a console cookie', async () => {
    const c = new ConsoleClient(gw);
    await c.signIn({ method: 'api_key', key: adminKey.key });
    const token = c.cookie!.split('=')[1]!;
    const asBearer = await new ConsoleClient(gw).call('GET', '/admin/v1/keys', undefined, { authorization: `Bearer ${token}` });
    assert.equal(asBearer.status, 401);
  });

  test('/console redirects to /console/; unknown console API paths are 404 JSON', async () => {
    const c = new ConsoleClient(gw);
    const r = await c.call('GET', '/console');
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), '/console/');
    assert.equal((await c.call('GET', '/console/api/nothing')).status, 404);
    assert.equal((await c.call('PUT', '/console/api/session')).status, 405);
  });
});

describe('console switched off', () => {
  test('server.console.enabled: false serves neither the console nor its sign-in', async () => {
    const gw = await startGateway({
      server: { console: { enabled: false } },
      auth: { api_keys: { bootstrap_admin: false } },
      instances: { primary: { type: 'openai', endpoint: 'http://127.0.0.1:9', authentication: { type: 'api_key', api_key: '${env:CONSOLE_TEST_OPENAI_KEY}' } } },
    });
    try {
      assert.equal((await fetch(`${gw.url}/console/api/info`)).status, 404);
      assert.equal((await fetch(`${gw.url}/console/`)).status, 404);
      const signIn = await fetch(`${gw.url}/console/api/session`, { method: 'POST', body: JSON.stringify({ method: 'api_key', key: await gw.key({ role: 'admin' }) }) });
      assert.equal(signIn.status, 404);
    } finally {
      await gw.close();
    }
  });
});

/** One HTTPS/1.1 request trusting `ca`: status, headers, body. */
function tlsCall(url: string, ca: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}${path}`, { method, headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('console cookie over TLS and behind a TLS-terminating proxy', () => {
  test('on the TLS listener the cookie is __Host- and Secure; the clear-text name does not count there', async () => {
    const cert = selfSignedCert();
    const gw = await startGateway({
      server: { tls: { port: 0, cert_file: cert.certFile, key_file: cert.keyFile } },
      auth: { api_keys: { bootstrap_admin: false } },
      instances: { primary: { type: 'openai', endpoint: 'http://127.0.0.1:9', authentication: { type: 'api_key', api_key: '${env:CONSOLE_TEST_OPENAI_KEY}' } } },
    });
    try {
      const url = `https://localhost:${gw.addresses.tls!.port}`;
      const key = await gw.key({ role: 'admin' });
      const signIn = await tlsCall(url, cert.cert, 'POST', '/console/api/session', { 'content-type': 'application/json' }, JSON.stringify({ method: 'api_key', key }));
      assert.equal(signIn.status, 200, signIn.text);
      const setCookie = (signIn.headers['set-cookie'] as string[])[0]!;
      assert.match(setCookie, /^__Host-llmproxy_console=llms_\w+; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict; Secure$/);
      const token = setCookie.split(';')[0]!.split('=')[1]!;
      assert.equal((await tlsCall(url, cert.cert, 'GET', '/admin/v1/keys', { cookie: `__Host-llmproxy_console=${token}` })).status, 200);
      assert.equal((await tlsCall(url, cert.cert, 'GET', '/admin/v1/keys', { cookie: `llmproxy_console=${token}` })).status, 401);
      const csrf = (JSON.parse(signIn.text) as { csrf_token: string }).csrf_token;
      const change = await tlsCall(url, cert.cert, 'POST', '/admin/v1/keys', { cookie: `__Host-llmproxy_console=${token}`, 'x-csrf-token': csrf, origin: url, 'content-type': 'application/json' }, JSON.stringify({ name: 'over-tls' }));
      assert.equal(change.status, 201, 'the https origin is the gateway\'s own');
    } finally {
      await gw.close();
    }
  });

  test('X-Forwarded-Proto: https from a trusted proxy makes the cookie Secure; from anyone else it is ignored', async () => {
    const gw = await startGateway({
      server: { trusted_proxies: ['127.0.0.1/32'] },
      auth: { api_keys: { bootstrap_admin: false } },
      instances: { primary: { type: 'openai', endpoint: 'http://127.0.0.1:9', authentication: { type: 'api_key', api_key: '${env:CONSOLE_TEST_OPENAI_KEY}' } } },
    });
    const plain = await startGateway({
      auth: { api_keys: { bootstrap_admin: false } },
      instances: { primary: { type: 'openai', endpoint: 'http://127.0.0.1:9', authentication: { type: 'api_key', api_key: '${env:CONSOLE_TEST_OPENAI_KEY}' } } },
    });
    try {
      for (const [g, secure] of [[gw, true], [plain, false]] as const) {
        const r = await fetch(`${g.url}/console/api/session`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' },
          body: JSON.stringify({ method: 'api_key', key: await g.key({ role: 'admin' }) }),
        });
        assert.equal(r.status, 200);
        const setCookie = r.headers.get('set-cookie')!;
        assert.equal(setCookie.startsWith('__Host-llmproxy_console='), secure, setCookie);
        assert.equal(setCookie.endsWith('; Secure'), secure, setCookie);
        if (!secure) continue;
        // Behind the proxy the browser's origin is the public one; the proxy names it in X-Forwarded-Host.
        const csrf = ((await r.json()) as { csrf_token: string }).csrf_token;
        const change = (forwardedHost: Record<string, string>) =>
          fetch(`${g.url}/admin/v1/keys`, {
            method: 'POST',
            headers: { cookie: setCookie.split(';')[0]!, 'x-csrf-token': csrf, origin: 'https://gateway.example', 'x-forwarded-proto': 'https', 'content-type': 'application/json', ...forwardedHost },
            body: JSON.stringify({ name: 'behind-proxy' }),
          });
        assert.equal((await change({ 'x-forwarded-host': 'gateway.example' })).status, 201);
        assert.equal((await change({})).status, 403, 'without X-Forwarded-Host the origin is not the gateway\'s');
      }
    } finally {
      await gw.close();
      await plain.close();
    }
  });
});
