import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { axeCheck, describeViolations, launchBrowser, requireChromium, screenshot, secretLeaks, webStorage, type RecordedPage, type TestBrowser } from './browser.js';

// The console's own CSP (docs/console contract): no inline script, no inline style.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const SECRET = 'llmp_test_secret_0123456789abcdef';

const PAGES: Record<string, string> = {
  '/': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Helper page</title>
<script src="/app.js" defer></script><link rel="stylesheet" href="/app.css"></head>
<body><main><h1>Browser helper</h1><form><label for="name">Name</label><input id="name" name="name"></form>
<p id="out">waiting</p></main><script>window.inlineRan = true</script></body></html>`,
  '/unlabelled': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Unlabelled</title></head>
<body><main><h1>No labels</h1><input id="nolabel"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main></body></html>`,
};
const APP_JS = `console.log('app started');
localStorage.setItem('theme', 'dark');
sessionStorage.setItem('token', '${SECRET}');
document.getElementById('out').textContent = 'ready';
setTimeout(() => { throw new Error('boom from app.js'); }, 0);`;

/** Waits until app.js has run to its end, the thrown error included. */
async function settled(p: RecordedPage): Promise<void> {
  await p.page.waitForFunction('document.getElementById("out").textContent === "ready"');
  for (let i = 0; i < 100 && !p.console.some((e) => e.type === 'pageerror'); i++) await p.page.waitForTimeout(20);
}

const gate = await requireChromium();

describe('browser test helpers (chromium via playwright-core)', { skip: gate.skip }, () => {
  let server: Server;
  let url: string;
  let browser: TestBrowser;

  before(async () => {
    server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/app.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(APP_JS);
      else if (path === '/app.css') res.writeHead(200, { 'content-type': 'text/css' }).end('body { font-family: sans-serif; }');
      else if (PAGES[path] !== undefined) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP }).end(PAGES[path]);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchBrowser(gate);
  });
  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise<void>((r) => server?.close(() => r()) ?? r());
  });

  test('records console messages, page errors and CSP violations under a strict CSP', async () => {
    const p = await browser.newPage();
    await p.page.goto(`${url}/`);
    await settled(p);
    assert.ok(p.console.some((e) => e.type === 'log' && e.text === 'app started'), JSON.stringify(p.console));
    assert.ok(p.console.some((e) => e.type === 'pageerror' && e.text.includes('boom from app.js')), JSON.stringify(p.console));
    // The CSP really is in force: the inline script was refused, and the refusal was recorded.
    assert.equal(await p.page.evaluate('window.inlineRan'), undefined);
    assert.ok(p.console.some((e) => e.type === 'error' && e.text.includes('Content Security Policy')), JSON.stringify(p.console));
    await p.context.close();
  });

  test('axe runs under the strict CSP without bypassing it, and reports serious violations', async () => {
    const clean = await browser.newPage();
    await clean.page.goto(`${url}/`);
    await settled(clean);
    const before = clean.console.length;
    assert.deepEqual(await axeCheck(clean.page), [], 'the accessible page has no serious violation');
    assert.equal(clean.console.length, before, 'injecting axe printed nothing (no CSP violation)');
    await clean.context.close();

    const bad = await browser.newPage();
    await bad.page.goto(`${url}/unlabelled`);
    const violations = await axeCheck(bad.page);
    const ids = violations.map((v) => v.id).sort();
    assert.deepEqual(ids, ['image-alt', 'label'], describeViolations(violations));
    assert.ok(violations.find((v) => v.id === 'label')?.targets.includes('#nolabel'));
    // An excluded element is not checked.
    assert.deepEqual((await axeCheck(bad.page, { exclude: ['#nolabel', 'img'] })).map((v) => v.id), []);
    await bad.context.close();
  });

  test('screenshot saves a PNG under test-results/console/', async () => {
    const p = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await p.page.goto(`${url}/`);
    const file = await screenshot(p.page, 'helper self-test');
    assert.match(file, /test-results\/console\/helper-self-test\.png$/);
    const png = readFileSync(file);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(png.readUInt32BE(16), 390, 'the PNG is as wide as the viewport');
    await p.context.close();
  });

  test('webStorage and secretLeaks find a secret in storage and in the console, and nowhere else', async () => {
    const p = await browser.newPage();
    await p.page.goto(`${url}/`);
    await settled(p);
    assert.deepEqual(await webStorage(p.page), { local: ['theme=dark'], session: [`token=${SECRET}`] });
    assert.deepEqual(await secretLeaks(p, [SECRET]), ['sessionStorage holds a secret (llmp_t…)']);

    await p.page.evaluate(`console.info('key is ${SECRET}')`);
    await p.page.fill('#name', `typed ${SECRET}`);
    assert.deepEqual(await secretLeaks(p, [SECRET]), [
      'form fields holds a secret (llmp_t…)',
      'sessionStorage holds a secret (llmp_t…)',
      'console holds a secret (llmp_t…)',
    ]);
    await p.page.fill('#name', '');
    await p.page.evaluate(`document.getElementById('out').textContent = '${SECRET}'`);
    assert.ok((await secretLeaks(p, [SECRET])).includes('DOM holds a secret (llmp_t…)'));
    // Each context starts empty: nothing carries over from the page above.
    const fresh = await browser.newPage();
    await fresh.page.goto(`${url}/unlabelled`);
    assert.deepEqual(await webStorage(fresh.page), { local: [], session: [] });
    await fresh.context.close();
    await p.context.close();
  });
});
