import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OidcProviderEmulator } from '../emulators/oidc-provider.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const CLIENT_SECRET = 'console-oidc-client-secret-7c1d9e2f4a';
process.env['CONSOLE_OIDC_IT_SECRET'] = CLIENT_SECRET;

/** One browser's cookies for every host it talks to (name → value; the tests use distinct names). */
class Browser {
  readonly cookies = new Map<string, string>();

  async get(url: string): Promise<Response> {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const [name, value] = [pair!.slice(0, eq), pair!.slice(eq + 1)];
      if (/Max-Age=0/.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** Follows redirects until one leaves for `stopAt` (returned, not followed). */
  async follow(url: string, stopAt: string): Promise<URL> {
    let next = url;
    for (let hop = 0; hop < 10; hop++) {
      const res = await this.get(next);
      await res.arrayBuffer();
      const location = res.headers.get('location');
      assert.ok(location, `hop ${hop} to ${next} answered ${res.status} without a redirect`);
      const target = new URL(location, next);
      if (target.href.startsWith(stopAt)) return target;
      next = target.href;
    }
    throw new Error('too many redirects');
  }
}

describe('console sign-in through OIDC (authorization code + PKCE) at the HTTP level', () => {
  let op: OidcProviderEmulator;
  let gw: TestGateway;
  let callback: string;

  before(async () => {
    op = await new OidcProviderEmulator({
      audience: 'llmproxy',
      clients: {},
      codeClients: { 'llmproxy-console': { secret: CLIENT_SECRET, redirect_uris: [] } },
      users: {
        alice: { claims: { groups: ['llm-admins'], email: 'alice@example.com' } },
        bob: { claims: { groups: ['payroll'], email: 'bob@example.com' } },
      },
    }).start();
    gw = await startGateway({
      auth: {
        api_keys: { bootstrap_admin: false },
        oidc: [
          {
            issuer: op.issuer,
            audience: 'llmproxy',
            roles_claim: 'groups',
            role_map: { 'llm-admins': 'admin' },
            user_claim: 'email',
            console: { client_id: 'llmproxy-console', client_secret: '${env:CONSOLE_OIDC_IT_SECRET}', label: 'Test IdP' },
          },
        ],
      },
      instances: { primary: { type: 'openai', endpoint: 'http://127.0.0.1:9', authentication: { type: 'api_key', api_key: '${env:CONSOLE_OIDC_IT_SECRET}' } } },
    });
    callback = `${gw.url}/console/api/oidc/callback`;
    op.allowRedirect('llmproxy-console', callback);
  });

  after(async () => {
    await gw.close();
    await op.close();
  });

  /** Start at the console, sign in at the provider as `user`; the callback URL the provider sends the browser to. */
  async function toCallback(browser: Browser, user: string): Promise<URL> {
    op.nextLogin(user);
    const start = await browser.get(`${gw.url}/console/api/oidc/start?provider=0`);
    assert.equal(start.status, 302);
    const authorize = new URL(start.headers.get('location')!);
    assert.equal(authorize.origin, op.issuer);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authorize.searchParams.get('redirect_uri'), callback);
    assert.match(start.headers.get('set-cookie')!, /^llmproxy_console_login=[\w-]+; Path=\/console\/api\/oidc\/; Max-Age=600; HttpOnly; SameSite=Lax$/);
    return browser.follow(authorize.href, callback);
  }

  test('api/info offers the provider by its label', async () => {
    const info = (await (await fetch(`${gw.url}/console/api/info`)).json()) as { sign_in: { oidc: unknown } };
    assert.deepEqual(info.sign_in.oidc, [{ id: '0', label: 'Test IdP' }]);
  });

  test('a user whose group maps to admin gets a console session with the OIDC principal', async () => {
    const browser = new Browser();
    const back = await toCallback(browser, 'alice');
    const done = await browser.get(back.href);
    assert.equal(done.status, 302);
    assert.equal(done.headers.get('location'), '/console/#/');
    assert.ok(browser.cookies.has('llmproxy_console'), 'a session cookie');
    assert.ok(!browser.cookies.has('llmproxy_console_login'), 'the login cookie is cleared');
    const session = (await (await browser.get(`${gw.url}/console/api/session`)).json()) as { principal: Record<string, unknown>; permissions: string[] };
    assert.equal(session.principal['kind'], 'oidc');
    assert.equal(session.principal['name'], 'alice@example.com');
    assert.deepEqual(session.principal['roles'], ['admin']);
    assert.ok(session.permissions.includes('llm:admin'));
    assert.equal((await browser.get(`${gw.url}/admin/v1/keys`)).status, 200);
    // The code was redeemed: the same callback again is refused (the login cookie is gone too).
    const again = await browser.get(back.href);
    assert.match(decodeURIComponent(again.headers.get('location')!), /^\/console\/#\/sign-in\?error=/);
  });

  test('a user whose groups map to no role that reads the admin API is refused, with no session', async () => {
    const browser = new Browser();
    const back = await toCallback(browser, 'bob');
    const done = await browser.get(back.href);
    assert.match(decodeURIComponent(done.headers.get('location')!), /^\/console\/#\/sign-in\?error=This identity cannot use the console/);
    assert.ok(!browser.cookies.has('llmproxy_console'));
    await gw.settle();
    const audit = await gw.app.store.audit.query({ event: 'auth', result: 'denied', limit: 10 });
    assert.ok(audit.some((e) => e.reason === 'console_not_permitted' && e.user === 'bob@example.com'));
  });

  test('a callback that does not match the browser\'s sign-in (state changed, no login cookie, provider error) is refused and audited', async () => {
    const tampered = new Browser();
    const back = await toCallback(tampered, 'alice');
    back.searchParams.set('state', 'forged-state-from-another-browser');
    const r1 = await tampered.get(back.href);
    assert.match(decodeURIComponent(r1.headers.get('location')!), /could not be matched to this browser/);
    assert.ok(!tampered.cookies.has('llmproxy_console'));

    // Login CSRF: a victim's browser is sent the attacker's callback; it has no login cookie.
    const attacker = new Browser();
    const attackersCallback = await toCallback(attacker, 'alice');
    const victim = new Browser();
    const r2 = await victim.get(attackersCallback.href);
    assert.match(decodeURIComponent(r2.headers.get('location')!), /took too long or was started in another browser/);
    assert.ok(!victim.cookies.has('llmproxy_console'));

    const denied = new Browser();
    await denied.get(`${gw.url}/console/api/oidc/start?provider=0`);
    const { state } = JSON.parse(Buffer.from(denied.cookies.get('llmproxy_console_login')!, 'base64url').toString()) as { state: string };
    const r3 = await denied.get(`${callback}?error=access_denied&state=${state}`);
    assert.match(decodeURIComponent(r3.headers.get('location')!), /refused the sign-in \(access_denied\)/);

    await gw.settle();
    const reasons = (await gw.app.store.audit.query({ event: 'auth', result: 'failure', limit: 50 })).map((e) => e.reason);
    for (const reason of ['oidc_state_mismatch', 'oidc_no_login', 'oidc_denied']) assert.ok(reasons.includes(reason), reason);
  });

  test('an unknown provider id goes back to the sign-in page; the client secret never reaches a log', async () => {
    const r = await fetch(`${gw.url}/console/api/oidc/start?provider=7`, { redirect: 'manual' });
    assert.equal(r.status, 302);
    assert.match(decodeURIComponent(r.headers.get('location')!), /No such identity provider/);
    await gw.settle();
    for (const line of gw.logs) assert.equal(line.includes(CLIENT_SECRET), false, line);
  });
});
