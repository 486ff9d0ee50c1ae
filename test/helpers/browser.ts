import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Locator, type Page } from 'playwright-core';
import { requireTool, type ToolGate } from './tools.js';

/**
 * A real browser for tests: Debian's `chromium`, found on PATH or installed with apt as a test
 * set-up step (through `requireTool`, so a missing browser makes the tests that need it report
 * themselves skipped, and fail under `CI=true`), driven by `playwright-core` over CDP.
 *
 * Every page opened through `newPage` records what the browser printed (console messages, page
 * errors, CSP violations) so a test can assert that no secret reached a console log.
 *
 * @example
 * const gate = await requireChromium();
 * describe('console', { skip: gate.skip }, () => {
 *   let browser: TestBrowser;
 *   before(async () => { browser = await launchBrowser(gate); });
 *   after(() => browser.close());
 *   test('renders', async () => {
 *     const p = await browser.newPage();
 *     await p.page.goto(url);
 *     assert.deepEqual(await axeCheck(p.page), []);
 *     await screenshot(p.page, 'overview');
 *   });
 * });
 */

// This file runs as dist/test/helpers/browser.js: the repo root is three folders up.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Screenshots and other browser artifacts (gitignored). */
export const ARTIFACTS = join(REPO_ROOT, 'test-results', 'console');

const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox', // tests run as root in containers, where the sandbox cannot start
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  // Nothing but the test's own traffic: no update checks, field trials, sync or safe-browsing lists.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Debian's chromium: on PATH, else `apt-get install chromium` (root only). */
export function requireChromium(): Promise<ToolGate> {
  return requireTool({ bin: 'chromium', apt: ['chromium'] });
}

export interface ConsoleEntry {
  /** `log`, `error`, `warning`, ... or `pageerror` for an uncaught exception. */
  type: string;
  text: string;
  /** The page URL the message came from. */
  url: string;
}

/** A page whose context records every console message and page error, from every page and frame in it. */
export interface RecordedPage {
  page: Page;
  context: BrowserContext;
  /** Everything the browser printed so far, in order. */
  readonly console: ConsoleEntry[];
}

export class TestBrowser {
  readonly #browser: Browser;

  constructor(browser: Browser) {
    this.#browser = browser;
  }

  get version(): string {
    return this.#browser.version();
  }

  /**
   * A page in a context of its own (fresh cookies and storage). `options` go to
   * `browser.newContext` (viewport, `bypassCSP`, ...); the default viewport is 1280×800.
   */
  async newPage(options: BrowserContextOptions = {}): Promise<RecordedPage> {
    const context = await this.#browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
    const entries: ConsoleEntry[] = [];
    context.on('console', (m) => entries.push({ type: m.type(), text: m.text(), url: m.page()?.url() ?? '' }));
    context.on('weberror', (e) => entries.push({ type: 'pageerror', text: String(e.error()?.stack ?? e.error()), url: e.page()?.url() ?? '' }));
    const page = await context.newPage();
    return { page, context, console: entries };
  }

  async close(): Promise<void> {
    await this.#browser.close();
  }
}

/**
 * Starts chromium. playwright gives each launch a fresh user-data directory of its own (and
 * removes it on close), so no profile, cookie or cache survives from an earlier run.
 */
export async function launchBrowser(gate: ToolGate): Promise<TestBrowser> {
  if (gate.skip !== false) throw new Error(`launchBrowser: ${gate.skip}`);
  const browser = await chromium.launch({ executablePath: gate.path, args: LAUNCH_ARGS, timeout: 60_000 });
  return new TestBrowser(browser);
}

export interface AxeViolation {
  id: string;
  impact: string;
  help: string;
  /** CSS selectors of the offending elements (at most five). */
  targets: string[];
}

let axeSource: string | undefined;

/**
 * Runs axe-core on the page and returns the violations of impact `serious` or `critical`.
 *
 * axe is evaluated through the DevTools protocol (`page.evaluate` of its source), not added as a
 * `<script>` tag: the console's CSP (`script-src 'self'`) blocks an inline script tag, as it
 * should, and `page.evaluate` is not subject to the page's CSP. So the page under test keeps its
 * real CSP (no `bypassCSP`) while axe runs, and injecting axe prints nothing to the console.
 */
export async function axeCheck(page: Page, options: { exclude?: string[] } = {}): Promise<AxeViolation[]> {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  if ((await page.evaluate('typeof window.axe')) !== 'object') await page.evaluate(axeSource);
  const violations = await page.evaluate(async (exclude: string[]) => {
    interface AxeResult { violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<AxeResult> } }).axe;
    const doc = (globalThis as unknown as { document: unknown }).document;
    const result = await axe.run(exclude.length > 0 ? { exclude: exclude.map((s) => [s]) } : doc, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? 'unknown',
      help: v.help,
      targets: v.nodes.slice(0, 5).map((n) => n.target.map(String).join(' ')),
    }));
  }, options.exclude ?? []);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** A one-line-per-violation text for assertion messages. */
export function describeViolations(violations: AxeViolation[]): string {
  return violations.map((v) => `${v.impact} ${v.id}: ${v.help} [${v.targets.join(', ')}]`).join('\n');
}

/**
 * Saves a full-page PNG as `test-results/console/<name>.png` and returns its path. `mask`
 * covers elements (a one-time secret) with a box, so no artifact holds a secret.
 */
export async function screenshot(page: Page, name: string, options: { mask?: Locator[] } = {}): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await page.screenshot({ path, fullPage: true, animations: 'disabled', ...(options.mask ? { mask: options.mask, maskColor: '#6b7280' } : {}) });
  return path;
}

/** Everything in the page's localStorage and sessionStorage, as `key=value` lines. */
export async function webStorage(page: Page): Promise<{ local: string[]; session: string[] }> {
  return page.evaluate(() => {
    interface StorageLike { length: number; key(i: number): string | null; getItem(k: string): string | null }
    const dump = (s: StorageLike) => Array.from({ length: s.length }, (_, i) => `${s.key(i)}=${s.getItem(s.key(i) ?? '')}`);
    const g = globalThis as unknown as { localStorage: StorageLike; sessionStorage: StorageLike };
    return { local: dump(g.localStorage), session: dump(g.sessionStorage) };
  });
}

/**
 * Where any of `secrets` can still be found: the page's HTML and the values of its form fields,
 * its web storage, or the context's console log. An empty list means nowhere.
 */
export async function secretLeaks(recorded: RecordedPage, secrets: string[]): Promise<string[]> {
  const { page } = recorded;
  const html = await page.content();
  // Typed-in or script-set input values are not in the serialised HTML.
  const fieldValues = await page.evaluate(() => {
    const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ value: string }> } }).document;
    return Array.from(doc.querySelectorAll('input, textarea'), (e) => e.value).join('\n');
  });
  const storage = await webStorage(page);
  const places: Array<[string, string]> = [
    ['DOM', html],
    ['form fields', fieldValues],
    ['localStorage', storage.local.join('\n')],
    ['sessionStorage', storage.session.join('\n')],
    ['console', recorded.console.map((e) => e.text).join('\n')],
  ];
  const found: string[] = [];
  for (const secret of secrets) {
    if (secret.length < 8) throw new Error('secretLeaks: a secret this short would match by chance');
    for (const [where, text] of places) if (text.includes(secret)) found.push(`${where} holds a secret (${secret.slice(0, 6)}…)`);
  }
  return found;
}
