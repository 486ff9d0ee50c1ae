import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { OidcProviderEmulator } from './oidc-provider.js';

const REDIRECT = 'http://127.0.0.1:9/console/api/oidc/callback';
const CONSOLE_SECRET = 'console-secret-000000000000000000';

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
  jwks_uri: string;
  code_challenge_methods_supported: string[];
}

/** A cookie jar for one "browser": name=value per cookie, sent to every provider URL. */
class Jar {
  readonly #cookies = new Map<string, string>();
  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      this.#cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1));
    }
  }
  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * Follows the provider's redirects by hand, as a browser would, until one points at the client's
 * redirect URI (returned) or a page is shown (returned as `page`). `form` submits the login form
 * when one appears.
 */
async function authorize(
  url: string,
  jar: Jar,
  form?: Record<string, string>,
  redirectUri = REDIRECT,
): Promise<{ redirect?: URL; page?: { status: number; html: string } }> {
  let next = url;
  let body: string | undefined;
  for (let hop = 0; hop < 10; hop++) {
    const res = await fetch(next, {
      redirect: 'manual',
      method: body === undefined ? 'GET' : 'POST',
      headers: { cookie: jar.header(), ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
      body,
    });
    jar.store(res);
    body = undefined;
    const location = res.headers.get('location');
    if (location === null) {
      const html = await res.text();
      if (form !== undefined && html.includes('<form')) {
        body = new URLSearchParams(form).toString();
        form = undefined; // submit once; a second form page is returned to the test
        next = new URL(/action="([^"]+)"/.exec(html)![1]!, next).href;
        continue;
      }
      return { page: { status: res.status, html } };
    }
    await res.arrayBuffer();
    const target = new URL(location, next);
    if (target.href.startsWith(redirectUri)) return { redirect: target };
    next = target.href;
  }
  throw new Error('too many redirects');
}

describe('OIDC test provider: authorization-code flow with PKCE', () => {
  let op: OidcProviderEmulator;
  let d: Discovery;

  before(async () => {
    op = await new OidcProviderEmulator({
      audience: 'llmproxy',
      clients: { machine: { secret: 'machine-secret-000000000000000', claims: { groups: ['developer'] } } },
      codeClients: {
        console: { secret: CONSOLE_SECRET, redirect_uris: [REDIRECT] },
        'console-post': { secret: CONSOLE_SECRET, authMethod: 'client_secret_post', redirect_uris: [REDIRECT] },
        spa: { redirect_uris: [REDIRECT] },
      },
      users: {
        alice: { password: 'alice-password', claims: { groups: ['admin'], email: 'alice@example.com', name: 'Alice Admin' } },
        vera: { claims: { groups: ['viewer'], email: 'vera@example.com' } },
      },
    }).start();
    d = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as Discovery;
  });
  after(() => op.close());

  function authUrl(clientId: string, params: Record<string, string>): string {
    const q = new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid email profile groups', ...params });
    return `${d.authorization_endpoint}?${q}`;
  }

  async function redeem(clientId: string, code: string, verifier: string, auth: 'basic' | 'post' | 'none') {
    const form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier };
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (auth === 'basic') headers['authorization'] = `Basic ${Buffer.from(`${clientId}:${CONSOLE_SECRET}`).toString('base64')}`;
    else if (auth === 'post') Object.assign(form, { client_secret: CONSOLE_SECRET });
    if (auth !== 'basic') form['client_id'] = clientId;
    const res = await fetch(d.token_endpoint, { method: 'POST', headers, body: new URLSearchParams(form).toString() });
    return { status: res.status, body: (await res.json()) as { id_token?: string; access_token?: string; error?: string; error_description?: string } };
  }

  test('discovery advertises the code flow with S256 only', () => {
    assert.equal(d.issuer, op.issuer);
    assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
    assert.ok(d.userinfo_endpoint.startsWith(op.issuer));
  });

  test('nextLogin: code + PKCE gives an ID token with the user\'s groups and the nonce, verifiable against the JWKS', async () => {
    const { verifier, challenge } = pkce();
    const state = randomBytes(8).toString('hex');
    const nonce = randomBytes(8).toString('hex');
    op.nextLogin('alice');
    const { redirect, page } = await authorize(authUrl('console', { state, nonce, code_challenge: challenge, code_challenge_method: 'S256' }), new Jar());
    assert.ok(redirect, `no redirect back: ${page?.status} ${page?.html.slice(0, 300)}`);
    assert.equal(redirect.searchParams.get('state'), state);
    assert.equal(redirect.searchParams.get('iss'), op.issuer);
    const code = redirect.searchParams.get('code');
    assert.ok(code);
    assert.equal(op.logins.at(-1), 'alice');

    const tokens = await redeem('console', code, verifier, 'basic');
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const { payload, protectedHeader } = await jwtVerify(tokens.body.id_token!, createRemoteJWKSet(new URL(d.jwks_uri)), {
      issuer: op.issuer,
      audience: 'console',
    });
    assert.equal(protectedHeader.kid, op.kid);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload['nonce'], nonce);
    assert.deepEqual(payload['groups'], ['admin']);
    assert.equal(payload['email'], 'alice@example.com');
    assert.equal(payload['name'], 'Alice Admin');

    // The access token is for userinfo, which answers the same claims.
    const info = await fetch(d.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.body.access_token}` } });
    assert.equal(info.status, 200);
    assert.deepEqual(await info.json(), { sub: 'alice', groups: ['admin'], email: 'alice@example.com', name: 'Alice Admin' });

    // A code is single use.
    assert.equal((await redeem('console', code, verifier, 'basic')).body.error, 'invalid_grant');
  });

  test('PKCE is required and checked; the client secret is checked', async () => {
    const { verifier, challenge } = pkce();
    op.nextLogin('alice');
    const noPkce = await authorize(authUrl('console', { state: 's', nonce: 'n' }), new Jar());
    assert.equal(noPkce.redirect?.searchParams.get('error'), 'invalid_request');
    assert.match(noPkce.redirect?.searchParams.get('error_description') ?? '', /requires PKCE/);

    const plain = await authorize(authUrl('console', { state: 's', nonce: 'n', code_challenge: verifier, code_challenge_method: 'plain' }), new Jar());
    assert.equal(plain.redirect?.searchParams.get('error'), 'invalid_request');

    const ok = await authorize(authUrl('console', { state: 's', nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256' }), new Jar());
    const code = ok.redirect!.searchParams.get('code')!;
    const wrongVerifier = await redeem('console', code, pkce().verifier, 'basic');
    assert.equal(wrongVerifier.status, 400);
    assert.equal(wrongVerifier.body.error, 'invalid_grant');

    op.nextLogin('alice');
    const again = await authorize(authUrl('console', { state: 's', nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256' }), new Jar());
    const wrongSecret = await fetch(d.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('console:not-the-secret').toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: again.redirect!.searchParams.get('code')!, redirect_uri: REDIRECT, code_verifier: verifier }).toString(),
    });
    assert.equal(wrongSecret.status, 401);
    assert.equal(((await wrongSecret.json()) as { error: string }).error, 'invalid_client');
  });

  test('a public client (no secret) and a client_secret_post client both redeem with PKCE', async () => {
    for (const [clientId, auth] of [['spa', 'none'], ['console-post', 'post']] as const) {
      const { verifier, challenge } = pkce();
      op.nextLogin('vera');
      const { redirect } = await authorize(authUrl(clientId, { state: 's', nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256' }), new Jar());
      const tokens = await redeem(clientId, redirect!.searchParams.get('code')!, verifier, auth);
      assert.equal(tokens.status, 200, `${clientId}: ${JSON.stringify(tokens.body)}`);
      const { payload } = await jwtVerify(tokens.body.id_token!, createRemoteJWKSet(new URL(d.jwks_uri)), { issuer: op.issuer, audience: clientId });
      assert.deepEqual(payload['groups'], ['viewer']);
    }
  });

  test('the login form: a wrong password shows the form again with an error, the right one signs in', async () => {
    const { verifier, challenge } = pkce();
    const url = authUrl('console', { state: 'form', nonce: 'form-nonce', code_challenge: challenge, code_challenge_method: 'S256' });
    const shown = await authorize(url, new Jar());
    assert.equal(shown.page?.status, 200);
    assert.match(shown.page!.html, /<label for="username">Username<\/label>/);
    assert.match(shown.page!.html, /<label for="password">Password<\/label>/);

    const wrong = await authorize(url, new Jar(), { username: 'alice', password: 'guess' });
    assert.equal(wrong.page?.status, 401);
    assert.match(wrong.page!.html, /role="alert"[^>]*>Wrong username or password/);
    // A user without a password cannot sign in through the form.
    const noPassword = await authorize(url, new Jar(), { username: 'vera', password: '' });
    assert.equal(noPassword.page?.status, 401);

    const right = await authorize(url, new Jar(), { username: 'alice', password: 'alice-password' });
    assert.ok(right.redirect, right.page?.html.slice(0, 300));
    assert.equal(right.redirect.searchParams.get('state'), 'form');
    const tokens = await redeem('console', right.redirect.searchParams.get('code')!, verifier, 'basic');
    const { payload } = await jwtVerify(tokens.body.id_token!, createRemoteJWKSet(new URL(d.jwks_uri)), { issuer: op.issuer, audience: 'console' });
    assert.equal(payload.sub, 'alice');
    assert.equal(payload['nonce'], 'form-nonce');
  });

  test('allowRedirect registers a redirect URI known only later (a relying party on port 0)', async () => {
    const late = 'http://127.0.0.1:10/late/callback';
    const { challenge } = pkce();
    const url = `${d.authorization_endpoint}?${new URLSearchParams({ client_id: 'spa', redirect_uri: late, response_type: 'code', scope: 'openid', state: 'late', nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256' })}`;
    const refused = await authorize(url, new Jar(), undefined, late);
    assert.equal(refused.page?.status, 400, 'not registered yet');
    op.allowRedirect('spa', late);
    op.nextLogin('vera');
    const accepted = await authorize(url, new Jar(), undefined, late);
    assert.equal(accepted.redirect?.searchParams.get('state'), 'late');
    assert.ok(accepted.redirect?.searchParams.get('code'));
  });

  test('the client-credentials grant is unchanged beside the code flow', async () => {
    const token = await op.token('machine');
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(d.jwks_uri)), { issuer: op.issuer, audience: 'llmproxy' });
    assert.deepEqual(payload['groups'], ['developer']);
    assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
    // A machine client cannot use the code flow.
    const { redirect, page } = await authorize(authUrl('machine', { state: 's', nonce: 'n', code_challenge: pkce().challenge, code_challenge_method: 'S256' }), new Jar());
    assert.equal(redirect, undefined, 'the machine client has no redirect URI here');
    assert.equal(page?.status, 400);
    assert.match(page!.html, /redirect_uri/);
  });
});
