import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { hashPassword } from '../../src/clientauth/basic/password.js';
import { totpFor } from '../../src/clientauth/totp/codes.js';
import { enrolTotp } from '../../src/clientauth/totp/enrol.js';
import { TotpSecretBox } from '../../src/clientauth/totp/secret-box.js';
import { OidcProviderEmulator } from '../emulators/oidc-provider.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { axeCheck, describeViolations, launchBrowser, requireChromium, screenshot, secretLeaks, type RecordedPage, type TestBrowser } from '../helpers/browser.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/wait.js';

/**
 * The admin console (issue 16) driven in a real browser: Debian's chromium through
 * playwright-core, against a whole gateway in this process with an OpenAI emulator behind the
 * `demo` instance and a real OpenID provider (the `oidc-provider` package) for single sign-on.
 *
 * Labels and headings are the console's own (console/src/pages/*.tsx): a test that fails here
 * after a wording change should be updated with the wording, not weakened.
 */

const PROVIDER_KEY = 'sk-provider-console-test-5e4d3c2b1a09';
const OIDC_SECRET = 'console-oidc-client-secret-000000000';
const PASSWORD = 'olga-password-correct-horse';
process.env['CONSOLE_TEST_OPENAI_KEY'] = PROVIDER_KEY;
process.env['CONSOLE_TEST_OIDC_SECRET'] = OIDC_SECRET;

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BUILT = existsSync(join(REPO_ROOT, 'dist', 'console', 'index.html'));
const CONSOLE = '/console/';
const NO_LIMITS = { rpm: null, tpm: null, budgetUsd: null };
const NO_SCOPES = { instances: null, models: null };
/** The pages in the navigation, by link text and page heading. */
const PAGES: Array<{ link: string; heading: string; slug: string }> = [
  { link: 'Overview', heading: 'Overview', slug: 'overview' },
  { link: 'Keys', heading: 'API keys', slug: 'keys' },
  { link: 'Users', heading: 'Users', slug: 'users' },
  { link: 'Usage', heading: 'Usage', slug: 'usage' },
  { link: 'Audit', heading: 'Audit log', slug: 'audit' },
  { link: 'Credentials', heading: 'Credentials', slug: 'credentials' },
  { link: 'Lockdown', heading: 'Lockdown', slug: 'lockdown' },
];

const gate = await requireChromium();
const notBuilt = 'the console front end is not built (dist/console/index.html); `npm run build` builds it';
if (!BUILT && process.env['CI'] === 'true') {
  test('the console is built (required under CI=true)', () => {
    throw new Error(notBuilt);
  });
}
const skip = gate.skip !== false ? gate.skip : BUILT ? false : notBuilt;

/** A small server on another origin: the attacker's pages (CSRF, framing). */
async function startOtherOrigin(pages: Record<string, (gateway: string) => string>, gateway: string): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const page = pages[new URL(req.url ?? '/', 'http://x').pathname];
    if (!page) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(gateway));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const ATTACKER_PAGES: Record<string, (gateway: string) => string> = {
  // A classic form CSRF: a text/plain body that parses as JSON, posted with the victim's cookie.
  '/form': (gw) => `<!doctype html><html lang="en"><head><title>Win a prize</title></head><body>
<form id="f" method="POST" action="${gw}/admin/v1/lockdown" enctype="text/plain"><input name='{"on":true,"reason":"csrf","x":"' value='"}'></form>
<script>document.getElementById('f').submit()</script></body></html>`,
  // fetch from script with credentials: no CORS preflight for these "simple" requests.
  '/fetch': (gw) => `<!doctype html><html lang="en"><head><title>Win a prize</title></head><body><p id="done">no</p>
<script>
Promise.allSettled([
  fetch('${gw}/admin/v1/keys', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ name: 'csrf-made-key', role: 'admin' }) }),
  fetch('${gw}/admin/v1/lockdown', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ on: true, reason: 'csrf' }) }),
  // DELETE is no "simple" method: the browser asks first (CORS preflight), the gateway grants nothing, nothing is sent.
  fetch('${gw}${CONSOLE}api/session', { method: 'DELETE', credentials: 'include' }),
]).then(() => { document.getElementById('done').textContent = 'yes'; });
</script></body></html>`,
  '/frame': (gw) => `<!doctype html><html lang="en"><head><title>Framed</title></head><body>
<iframe id="victim" title="console" src="${gw}${CONSOLE}" width="800" height="600"></iframe></body></html>`,
};

describe('admin console in a real browser (issue 16)', { skip }, () => {
  let emu: OpenAIEmulator;
  let op: OidcProviderEmulator;
  let gw: TestGateway;
  let browser: TestBrowser;
  let adminKey: string;
  let viewerKey: string;
  let totpSecret: string;
  /** Every secret the suite handled: none may appear in any page's DOM, storage or console. */
  const secrets: string[] = [PROVIDER_KEY, OIDC_SECRET, PASSWORD];
  /** Every page the suite opened, for the console-log check at the end. */
  const opened: RecordedPage[] = [];

  async function newPage(options: Parameters<TestBrowser['newPage']>[0] = {}): Promise<RecordedPage> {
    const p = await browser.newPage(options);
    opened.push(p);
    return p;
  }

  /** The page's level-1 heading, once the console has rendered it. */
  async function heading(page: Page, name: string): Promise<void> {
    await page.getByRole('heading', { level: 1, name, exact: true }).waitFor({ timeout: 15_000 });
  }

  async function signInWithKey(p: RecordedPage, key: string): Promise<void> {
    await p.page.goto(gw.url + CONSOLE);
    await heading(p.page, 'Sign in');
    await p.page.getByLabel('API key', { exact: true }).fill(key);
    await p.page.getByRole('button', { name: 'Sign in with key' }).click();
    await heading(p.page, 'Overview');
  }

  /** The status of the sign-in request `action` sends. */
  async function signInAnswer(page: Page, action: () => Promise<void>): Promise<number> {
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`${CONSOLE}api/session`) && r.request().method() === 'POST'),
      action(),
    ]);
    return answer.status();
  }

  async function goTo(page: Page, link: string, title: string): Promise<void> {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: true }).click();
    await heading(page, title);
    // the page's data has arrived when no loading line is left
    await until(`${title} loaded`, async () => (await page.locator('[role="status"]:has-text("Loading")').count()) === 0, 10_000);
  }

  /** axe finds nothing serious or critical on the page as it stands. */
  async function accessible(page: Page, what: string): Promise<void> {
    const violations = await axeCheck(page);
    assert.deepEqual(violations, [], `${what}:\n${describeViolations(violations)}`);
  }

  /** The CSRF token of the page's session, as the app gets it. */
  async function csrfToken(page: Page): Promise<string> {
    return page.evaluate(async (path) => {
      const r = await fetch(path, { credentials: 'same-origin' });
      return ((await r.json()) as { csrf_token: string }).csrf_token;
    }, `${CONSOLE}api/session`);
  }

  /** A request from inside the signed-in page (its cookie goes along); the answer's status and error code. */
  async function fromPage(page: Page, method: string, path: string, body: unknown, csrf: string | undefined): Promise<{ status: number; code: string | undefined }> {
    return page.evaluate(
      async ({ method, path, body, csrf }) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (csrf !== undefined) headers['x-csrf-token'] = csrf;
        const r = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        const text = await r.text();
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        return { status: r.status, code };
      },
      { method, path, body, csrf },
    );
  }

  async function chat(key: string): Promise<{ status: number; code: string | undefined }> {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo-chat', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await res.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
    } catch {
      code = undefined;
    }
    return { status: res.status, code };
  }

  async function adminGet<T>(path: string): Promise<T> {
    const res = await fetch(`${gw.url}/admin/v1/${path}`, { headers: { authorization: `Bearer ${adminKey}` } });
    assert.equal(res.status, 200, `GET /admin/v1/${path}`);
    return (await res.json()) as T;
  }

  before(async () => {
    emu = await new OpenAIEmulator([PROVIDER_KEY]).start();
    op = await new OidcProviderEmulator({
      audience: 'llmproxy',
      clients: {},
      codeClients: { console: { secret: OIDC_SECRET, redirect_uris: [] } },
      users: {
        alice: { password: 'alice-idp-password', claims: { groups: ['admin'], email: 'alice@example.com', name: 'Alice Admin' } },
        vera: { claims: { groups: ['viewer'], email: 'vera@example.com', name: 'Vera Viewer' } },
      },
    }).start();
    gw = await startGateway({
      instances: { demo: { type: 'openai', endpoint: emu.url, authentication: { type: 'api_key', api_key: '${env:CONSOLE_TEST_OPENAI_KEY}' } } },
      model_aliases: { 'demo-chat': 'demo/gpt-4o-mini' },
      auth: {
        api_keys: { bootstrap_admin: false, revocation_poll: '100ms' },
        basic: { enabled: true, change_poll: '100ms' },
        oidc: [{ issuer: op.issuer, audience: 'llmproxy', console: { client_id: 'console', client_secret: '${env:CONSOLE_TEST_OIDC_SECRET}', label: 'Test IdP' } }],
      },
      lockdown: { poll_interval: '200ms' },
    });
    op.allowRedirect('console', `${gw.url}${CONSOLE}api/oidc/callback`);
    adminKey = await gw.key({ name: 'console-admin', role: 'admin', user: 'ops@example.com' });
    viewerKey = await gw.key({ name: 'console-viewer', role: 'viewer', user: 'auditor@example.com' });
    await gw.app.store.identity.users.create({ name: 'olga', role: 'admin', passwordHash: await hashPassword(PASSWORD), scopes: NO_SCOPES, limits: NO_LIMITS });
    const enrolment = await enrolTotp(gw.app.store.identity.totp, new TotpSecretBox(undefined), 'user:olga', 'olga', true);
    totpSecret = enrolment.secret;
    secrets.push(adminKey, viewerKey, totpSecret, ...enrolment.backupCodes);
    // Some traffic, so the overview and usage pages (and their screenshots) show numbers.
    for (let i = 0; i < 3; i++) assert.equal((await chat(adminKey)).status, 200);
    assert.equal((await chat(viewerKey)).status, 403);
    browser = await launchBrowser(gate);
  });

  after(async () => {
    await browser?.close();
    await gw?.close();
    await op?.close();
    await emu?.close();
  });

  test('the console page carries a strict CSP, no framing and no referrer', async () => {
    const res = await fetch(gw.url + CONSOLE);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"]) {
      assert.ok(csp.includes(directive), `CSP lacks ${directive}: ${csp}`);
    }
    assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), csp);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    const html = await res.text();
    assert.ok(!/<script>|<style|style=/.test(html), 'no inline script or style');
  });

  test('sign in with an admin API key: every page renders, passes axe and is saved; the session is an HttpOnly SameSite=Strict cookie', async () => {
    const p = await newPage();
    await p.page.goto(gw.url + CONSOLE);
    await heading(p.page, 'Sign in');
    await accessible(p.page, 'sign-in page');
    await screenshot(p.page, 'sign-in');

    await signInWithKey(p, adminKey);
    const cookies = await p.context.cookies(gw.url);
    assert.equal(cookies.length, 1, JSON.stringify(cookies.map((c) => c.name)));
    const [cookie] = cookies;
    assert.equal(cookie!.httpOnly, true);
    assert.equal(cookie!.sameSite, 'Strict');
    assert.equal(cookie!.path, '/');
    secrets.push(cookie!.value);
    assert.equal(await p.page.evaluate('document.cookie'), '', 'the session cookie is out of reach of scripts');

    for (const { link, heading: title, slug } of PAGES) {
      await goTo(p.page, link, title);
      await accessible(p.page, `${title} page`);
      await screenshot(p.page, slug);
    }
    // The detail page of a key, reached from the list.
    await goTo(p.page, 'Keys', 'API keys');
    await p.page.getByRole('link', { name: 'console-admin', exact: true }).click();
    await heading(p.page, 'Key console-admin');
    await until('key detail loaded', async () => (await p.page.locator('[role="status"]:has-text("Loading")').count()) === 0, 10_000);
    await accessible(p.page, 'key detail page');
    await screenshot(p.page, 'key-detail');

    // A phone-sized window: the same pages stay usable and accessible.
    const phone = await newPage({ viewport: { width: 390, height: 844 } });
    await signInWithKey(phone, adminKey);
    await accessible(phone.page, 'overview on a phone');
    await screenshot(phone.page, 'overview-phone');
    await phone.page.getByRole('button', { name: 'Menu' }).click();
    await goTo(phone.page, 'Keys', 'API keys');
    await accessible(phone.page, 'keys on a phone');
    await screenshot(phone.page, 'keys-phone');

    assert.deepEqual(await secretLeaks(p, secrets), []);
    assert.deepEqual(await secretLeaks(phone, secrets), []);
    await phone.context.close();

    // Signing out ends the session on the server, not only in the page.
    await p.page.getByRole('button', { name: 'Sign out' }).click();
    await heading(p.page, 'Sign in');
    const after = await fetch(`${gw.url}${CONSOLE}api/session`, { headers: { cookie: `${cookie!.name}=${cookie!.value}` } });
    assert.equal(after.status, 401);
    await p.context.close();
  });

  test('create a key in the UI, use the shown secret against /v1/chat/completions, revoke it and see it refused', async () => {
    const p = await newPage();
    await signInWithKey(p, adminKey);
    await goTo(p.page, 'Keys', 'API keys');
    await p.page.getByRole('button', { name: 'Create key' }).click();
    const form = p.page.getByRole('dialog', { name: 'Create an API key' });
    await accessible(p.page, 'create-key dialog');
    await screenshot(p.page, 'keys-create');
    await form.getByLabel('Name', { exact: true }).fill('browser-made');
    await form.getByLabel('Role', { exact: true }).fill('developer');
    await form.getByLabel('Expires in', { exact: true }).fill('30d');
    await form.getByRole('button', { name: 'Create', exact: true }).click();

    const shown = p.page.getByRole('dialog', { name: 'Your new API key' });
    const field = shown.getByLabel('API key', { exact: true });
    const secret = await field.inputValue();
    assert.match(secret, /^llmp_/);
    secrets.push(secret);
    await assert.doesNotReject(shown.getByText('This is the only time it is shown', { exact: false }).waitFor());
    await accessible(p.page, 'one-time secret dialog');
    await screenshot(p.page, 'keys-secret-shown', { mask: [field] });
    await shown.getByRole('button', { name: 'Close', exact: true }).click();
    await shown.waitFor({ state: 'detached' });

    // Gone from the page once the dialog is closed; never in storage or the console.
    assert.deepEqual(await secretLeaks(p, [secret]), []);

    const used = await chat(secret);
    assert.equal(used.status, 200, `the new key works: ${used.code}`);

    const row = p.page.getByRole('row').filter({ hasText: 'browser-made' });
    await row.getByRole('button', { name: 'Revoke key browser-made' }).click();
    const confirm = p.page.getByRole('dialog', { name: 'Revoke key browser-made?' });
    await accessible(p.page, 'revoke confirmation');
    await confirm.getByRole('button', { name: 'Revoke', exact: true }).click();
    await confirm.waitFor({ state: 'detached' });
    await row.getByText('revoked', { exact: false }).first().waitFor();

    await until('the revoked key is refused', async () => (await chat(secret)).status === 401, 5000);
    const keys = await adminGet<{ data: Array<{ name: string; status: string }> }>('keys');
    assert.equal(keys.data.find((k) => k.name === 'browser-made')?.status, 'revoked');
    assert.deepEqual(await secretLeaks(p, secrets), []);
    await p.context.close();
  });

  test('sign in as a Basic user with password and TOTP', async () => {
    const p = await newPage();
    await p.page.goto(gw.url + CONSOLE);
    await heading(p.page, 'Sign in');
    await p.page.getByLabel('User name', { exact: true }).fill('olga');
    await p.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    const submit = p.page.getByRole('button', { name: 'Sign in with password' });
    // The gateway asks for the second factor (401 totp_required): the code field appears.
    assert.equal(await signInAnswer(p.page, () => submit.click()), 401);
    const codeField = p.page.getByLabel('One-time code', { exact: true });
    await codeField.waitFor();
    await accessible(p.page, 'sign-in asking for TOTP');
    await screenshot(p.page, 'sign-in-totp');

    const wrong = totpFor(totpSecret).generate({ timestamp: Date.now() - 10 * 60_000 });
    await codeField.fill(wrong);
    assert.equal(await signInAnswer(p.page, () => submit.click()), 401, 'a stale code is refused');
    await p.page.getByRole('alert').first().waitFor();
    await heading(p.page, 'Sign in');
    await codeField.fill(totpFor(totpSecret).generate());
    assert.equal(await signInAnswer(p.page, () => submit.click()), 200);
    await heading(p.page, 'Overview');
    await p.page.getByText('olga', { exact: false }).first().waitFor();
    assert.deepEqual(await secretLeaks(p, secrets), []);
    await p.context.close();
  });

  test('sign in through OIDC (authorization code with PKCE), typing the password into the provider\'s form', async () => {
    const p = await newPage();
    await p.page.goto(gw.url + CONSOLE);
    await heading(p.page, 'Sign in');
    await p.page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
    await p.page.waitForURL((u) => u.href.startsWith(op.issuer));
    await p.page.getByLabel('Username').fill('alice');
    await p.page.getByLabel('Password').fill('alice-idp-password');
    await p.page.getByRole('button', { name: 'Sign in' }).click();
    await p.page.waitForURL((u) => u.href.startsWith(gw.url + CONSOLE));
    await heading(p.page, 'Overview');
    assert.deepEqual(op.logins.slice(-1), ['alice']);
    const session = await p.page.evaluate(async (path) => (await fetch(path)).json(), `${CONSOLE}api/session`) as { principal: { kind: string; roles: string[] } };
    assert.equal(session.principal.kind, 'oidc');
    assert.deepEqual(session.principal.roles, ['admin']);
    // An admin through OIDC has the write controls.
    await goTo(p.page, 'Keys', 'API keys');
    await p.page.getByRole('button', { name: 'Create key' }).waitFor();
    // The authorization code, the ID token and the PKCE verifier stay out of the page.
    assert.ok(!p.page.url().includes('code='), p.page.url());
    assert.deepEqual(await secretLeaks(p, secrets), []);
    await p.context.close();
  });

  test('lockdown on and off from the console, with a required reason', async () => {
    const p = await newPage();
    await signInWithKey(p, adminKey);
    await goTo(p.page, 'Lockdown', 'Lockdown');
    assert.equal((await chat(adminKey)).status, 200);

    await p.page.locator('main').getByRole('button', { name: 'Turn lockdown on' }).click();
    const on = p.page.getByRole('dialog', { name: 'Turn lockdown on?' });
    // No reason: refused in the dialog with a message.
    await on.getByRole('button', { name: 'Turn lockdown on' }).click();
    assert.equal(await on.isVisible(), true, 'the dialog stays open without a reason');
    await on.getByLabel('Reason').fill('browser test: incident drill');
    await accessible(p.page, 'lockdown confirmation');
    await screenshot(p.page, 'lockdown-confirm');
    await on.getByRole('button', { name: 'Turn lockdown on' }).click();
    await on.waitFor({ state: 'detached' });
    await p.page.getByText('Lockdown is on', { exact: false }).waitFor();
    await until('inference is refused', async () => (await chat(adminKey)).status === 503, 5000);
    assert.equal((await chat(adminKey)).code, 'lockdown');
    assert.equal((await adminGet<{ on: boolean; reason: string }>('lockdown')).reason, 'browser test: incident drill');
    await accessible(p.page, 'lockdown page while on');
    await screenshot(p.page, 'lockdown-on');

    await p.page.locator('main').getByRole('button', { name: 'Turn lockdown off' }).click();
    const off = p.page.getByRole('dialog', { name: 'Turn lockdown off?' });
    await off.getByLabel('Reason').fill('drill over');
    await off.getByRole('button', { name: 'Turn lockdown off' }).click();
    await off.waitFor({ state: 'detached' });
    await p.page.getByText('Lockdown is off', { exact: false }).waitFor();
    await until('inference is served again', async () => (await chat(adminKey)).status === 200, 5000);
    assert.equal((await adminGet<{ on: boolean }>('lockdown')).on, false);

    // The audit log holds both changes; the newest one's detail page shows what changed.
    // A deep link with a filter: the lockdown events only, newest first.
    await p.page.goto(`${gw.url}${CONSOLE}#/audit?event=lockdown`);
    await heading(p.page, 'Audit log');
    await p.page.getByRole('row').filter({ hasText: 'incident drill' }).waitFor();
    await p.page.getByRole('link', { name: 'Details' }).first().click();
    await heading(p.page, 'Audit event');
    await p.page.getByText('drill over').first().waitFor();
    await accessible(p.page, 'audit event detail');
    await screenshot(p.page, 'audit-detail');
    await p.context.close();
  });

  test('a viewer (API key or OIDC) sees no write control, and the API refuses the changes with 403', async () => {
    const p = await newPage();
    await signInWithKey(p, viewerKey);
    await goTo(p.page, 'Keys', 'API keys');
    await p.page.getByRole('row').filter({ hasText: 'console-admin' }).waitFor();
    assert.equal(await p.page.getByRole('button', { name: 'Create key' }).count(), 0);
    assert.equal(await p.page.getByRole('button', { name: /^(Revoke|Rotate) key/ }).count(), 0);
    await goTo(p.page, 'Users', 'Users');
    await p.page.getByRole('row').filter({ hasText: 'olga' }).waitFor();
    assert.equal(await p.page.getByRole('button', { name: /Create user|Disable user|Reset password|Enrol TOTP|Remove TOTP/ }).count(), 0);
    await goTo(p.page, 'Lockdown', 'Lockdown');
    assert.equal(await p.page.getByRole('button', { name: /Turn lockdown|Disable demo|Enable demo/ }).count(), 0);
    await goTo(p.page, 'Credentials', 'Credentials');
    assert.equal(await p.page.getByRole('button', { name: /Refresh .* now/ }).count(), 0);
    await screenshot(p.page, 'viewer-lockdown');

    // The API refuses anyway, even with a valid CSRF token.
    const csrf = await csrfToken(p.page);
    const refused = [
      await fromPage(p.page, 'POST', '/admin/v1/keys', { name: 'viewer-made' }, csrf),
      await fromPage(p.page, 'POST', '/admin/v1/lockdown', { on: true, reason: 'viewer' }, csrf),
      await fromPage(p.page, 'POST', '/admin/v1/users/olga/disable', {}, csrf),
      await fromPage(p.page, 'POST', '/admin/v1/credentials/demo/refresh', {}, csrf),
    ];
    for (const r of refused) assert.deepEqual(r, { status: 403, code: 'permission_denied' });
    assert.equal((await adminGet<{ on: boolean }>('lockdown')).on, false);
    await p.context.close();

    // The same through single sign-on: vera's groups say viewer.
    const o = await newPage();
    op.nextLogin('vera');
    await o.page.goto(gw.url + CONSOLE);
    await heading(o.page, 'Sign in');
    await o.page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
    await heading(o.page, 'Overview');
    await goTo(o.page, 'Keys', 'API keys');
    await o.page.getByRole('row').filter({ hasText: 'console-admin' }).waitFor();
    assert.equal(await o.page.getByRole('button', { name: 'Create key' }).count(), 0);
    assert.deepEqual(await fromPage(o.page, 'POST', '/admin/v1/keys', { name: 'vera-made' }, await csrfToken(o.page)), { status: 403, code: 'permission_denied' });
    await o.context.close();
  });

  test('CSRF: no token, or a request from another origin, changes nothing', async () => {
    const p = await newPage();
    await signInWithKey(p, adminKey);
    const keysBefore = (await adminGet<{ data: unknown[] }>('keys')).data.length;

    // Same page, the cookie goes along, but no X-CSRF-Token (or a wrong one): 403 csrf_failed.
    assert.deepEqual(await fromPage(p.page, 'POST', '/admin/v1/keys', { name: 'no-token' }, undefined), { status: 403, code: 'csrf_failed' });
    assert.deepEqual(await fromPage(p.page, 'POST', '/admin/v1/lockdown', { on: true, reason: 'x' }, 'not-the-token'), { status: 403, code: 'csrf_failed' });
    assert.deepEqual(await fromPage(p.page, 'DELETE', `${CONSOLE}api/session`, undefined, undefined), { status: 403, code: 'csrf_failed' });
    // With the token the same request works: the refusals above were the token's doing.
    const csrf = await csrfToken(p.page);
    const made = await fromPage(p.page, 'POST', '/admin/v1/keys', { name: 'with-token' }, csrf);
    assert.equal(made.status, 201);

    // Pages on other origins, in the same browser (same cookie jar) as the signed-in console:
    // 127.0.0.1:<other port> is the same site (the cookie is sent; the token check stops it),
    // localhost:<port> another site (SameSite=Strict keeps the cookie back as well).
    // The gateway's audit log shows each attempt arrived and how it was refused.
    const attacker = await startOtherOrigin(ATTACKER_PAGES, gw.url);
    const seen: Record<string, string[]> = {};
    try {
      for (const host of ['127.0.0.1', 'localhost']) {
        await gw.settle();
        const before = (await gw.app.store.audit.query({ limit: 10_000 })).length;
        const evil = await p.context.newPage();
        await evil.goto(`http://${host}:${attacker.port}/form`);
        await evil.waitForURL((u) => u.href.startsWith(`${gw.url}/admin/`)); // the form went off
        await evil.goto(`http://${host}:${attacker.port}/fetch`);
        await evil.getByText('yes', { exact: true }).waitFor();
        await evil.close();
        await gw.settle();
        const rows = (await gw.app.store.audit.query({ limit: 10_000 })).slice(0, -before || undefined);
        seen[host] = rows.map((r) => `${r.httpMethod} ${r.path} ${r.result} ${r.reason} ${r.method ?? '-'}`).sort();
      }
    } finally {
      await attacker.close();
    }
    // Same site: the cookie went along and the missing token stopped all three.
    assert.deepEqual(seen['127.0.0.1'], [
      'POST /admin/v1/keys denied csrf_failed console',
      'POST /admin/v1/lockdown denied csrf_failed console',
      'POST /admin/v1/lockdown denied csrf_failed console',
    ]);
    // Another site: SameSite=Strict kept the cookie back; no credential at all.
    assert.deepEqual(seen['localhost']?.map((r) => r.split(' ').slice(0, 4).join(' ')), [
      'POST /admin/v1/keys failure missing',
      'POST /admin/v1/lockdown failure missing',
      'POST /admin/v1/lockdown failure missing',
    ]);
    await gw.settle();
    assert.equal((await adminGet<{ on: boolean }>('lockdown')).on, false, 'lockdown was not switched on');
    const keys = (await adminGet<{ data: Array<{ name: string }> }>('keys')).data;
    assert.equal(keys.length, keysBefore + 1, 'only the key made with the token exists');
    assert.ok(!keys.some((k) => k.name === 'csrf-made-key'));
    // The session survived the DELETE attempts.
    assert.equal((await fromPage(p.page, 'GET', `${CONSOLE}api/session`, undefined, undefined)).status, 200);
    await p.context.close();
  });

  test('framing: another origin cannot show the console in a frame', async () => {
    const attacker = await startOtherOrigin(ATTACKER_PAGES, gw.url);
    const p = await newPage();
    try {
      await signInWithKey(p, adminKey);
      await p.page.goto(`http://127.0.0.1:${attacker.port}/frame`);
      await p.page.waitForLoadState('load');
      await until('the frame settled', async () => p.page.frames().length === 2, 5000);
      const frame = p.page.frames().find((f) => f !== p.page.mainFrame())!;
      // Blocked by frame-ancestors / X-Frame-Options, chromium shows its error page in the frame.
      let rendered: string;
      try {
        rendered = await frame.evaluate('document.querySelector("#app") ? document.title : ""');
      } catch {
        rendered = ''; // no document we can reach: nothing of the console rendered
      }
      assert.equal(rendered, '', `the console rendered inside the frame (${frame.url()})`);
      assert.ok(!frame.url().startsWith(gw.url), `the frame holds ${frame.url()}, not the console`);
      assert.ok(
        p.console.some((e) => /frame-ancestors|X-Frame-Options|Refused to (display|frame)/i.test(e.text)),
        `chromium reported the refusal: ${JSON.stringify(p.console.map((e) => e.text))}`,
      );
    } finally {
      await p.context.close();
      await attacker.close();
    }
  });

  test('no secret appeared in any console log of any page', () => {
    const logged = opened.flatMap((p) => p.console.map((e) => e.text)).join('\n');
    for (const secret of secrets) assert.ok(!logged.includes(secret), `a secret (${secret.slice(0, 6)}…) reached a console log`);
    const errors = opened.flatMap((p) => p.console.filter((e) => e.type === 'pageerror' && e.url.startsWith(gw.url)));
    assert.deepEqual(errors, [], 'no uncaught error in the console app');
  });
});
