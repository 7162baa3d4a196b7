/**
 * The demo chat end to end in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core; `.ci/run` installs it): the demo project runs on a free port, ada and bob log
 * in through the real login form, a third browser stays logged out. Public messages reach every
 * page; the logged-out visitor reads along but cannot post, neither through the page nor through
 * the socket; a whisper reaches its recipient only.
 */
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { MojoApplication } from '../framework/index.ts';
import demoConfig from '../mojo.config.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = '/tmp/e2e-chat.png';
/** Every wait is bounded: a broken page fails in seconds, not at the runner's timeout. */
const WAIT_MS = 10_000;

const missing = !existsSync(CHROMIUM);
const inCi = Boolean(process.env.CI);
const INSTALL = 'apt-get install -y chromium';

// CI installs Chromium (.ci/run), so there a missing browser is a failure, never a skip.
if (missing && inCi) {
  it('finds Chromium, which .ci/run installs', () => {
    assert.fail(`${CHROMIUM} is missing although CI is set: .ci/run must install it (${INSTALL})`);
  });
}
const skip = missing ? `${CHROMIUM} not found; install it to run this test: ${INSTALL}` : false;

/** One line of a page's message list, as the visitor sees it. */
interface Line {
  whisper: boolean;
  from: string | null;
  text: string;
}

// Strings, not functions: the project's TypeScript has no DOM types, and this runs in the page.
const READ_FEED = `[...document.querySelectorAll('#messages li')].map((li) => ({
  whisper: li.classList.contains('whisper'),
  from: li.querySelector('.from')?.textContent ?? null,
  text: li.lastChild?.textContent ?? '',
}))`;
const ENABLE_FORM = `document.getElementById('text').disabled = false; document.getElementById('send').disabled = false;`;
const RAW_SAY = `(async () => {
  const socket = io('/ChatSocket', { forceNew: true, reconnection: false });
  try { return await socket.timeout(5000).emitWithAck('say', 'raw say from the logged-out visitor'); }
  finally { socket.disconnect(); }
})()`;

describe('the demo chat in a real browser', { skip, timeout: 60_000 }, () => {
  let mojo: MojoApplication | undefined;
  let browser: Browser | undefined;
  let base = '';
  let ada: Page; // context A, logged in as ada
  let guest: Page; // context B, logged out
  let bob: Page; // context C, logged in as bob
  const scriptErrors: string[] = [];

  async function newPage(name: string): Promise<Page> {
    const context: BrowserContext = await browser!.newContext();
    context.setDefaultTimeout(WAIT_MS);
    context.setDefaultNavigationTimeout(WAIT_MS);
    const page = await context.newPage();
    page.on('pageerror', (err) => scriptErrors.push(`${name}: ${err.message}`));
    return page;
  }

  async function logIn(page: Page, username: string, password: string): Promise<void> {
    await page.goto(`${base}/auth/login/?next=/chat/`);
    await page.fill('#username', username);
    await page.fill('#password', password);
    await Promise.all([page.waitForURL(`${base}/chat/`), page.click('#submit')]);
    assert.equal(await page.textContent('#current-user'), username);
  }

  const live = (page: Page) => page.locator('#status', { hasText: /^live$/ }).waitFor();
  const seen = (page: Page, text: string) => page.locator('#messages li', { hasText: text }).waitFor();
  const feed = (page: Page) => page.evaluate<Line[]>(READ_FEED);

  async function say(page: Page, text: string): Promise<void> {
    await page.fill('#text', text);
    await page.click('#send');
    await seen(page, text);
  }

  before(async () => {
    mojo = await MojoApplication.create({
      root: ROOT,
      config: { ...demoConfig, database: 'sqlite::memory:', debug: false, cookieSecret: 'e2e-secret' },
    });
    const { port } = await mojo.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    await mojo.context.users.create('ada', 'correct horse');
    await mojo.context.users.create('bob', 'battery staple');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 15_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    ada = await newPage('ada');
    guest = await newPage('guest');
    bob = await newPage('bob');
  });

  after(async () => {
    try {
      await browser?.close(); // closes every context and page with it
    } finally {
      await mojo?.close();
    }
  });

  it('logs ada in through the login form and lands on the live chat', async () => {
    await logIn(ada, 'ada', 'correct horse');
    await live(ada);
    assert.equal(await ada.isEnabled('#text'), true);
    assert.equal(await ada.isEnabled('#send'), true);
  });

  it('shows the chat to a logged-out visitor, live, with the form disabled', async () => {
    await guest.goto(`${base}/chat/`);
    assert.equal(new URL(guest.url()).pathname, '/chat/');
    await live(guest);
    assert.equal(await guest.isVisible('#login-link'), true);
    assert.equal(await guest.isDisabled('#text'), true);
    assert.equal(await guest.isDisabled('#send'), true);
    assert.equal(await guest.getAttribute('#text', 'placeholder'), 'Log in to post');
  });

  it("delivers ada's message to both pages, with her name", async () => {
    await say(ada, 'Hello from ada');
    await seen(guest, 'Hello from ada');
    const expected: Line[] = [{ whisper: false, from: 'ada', text: 'Hello from ada' }];
    assert.deepEqual(await feed(ada), expected);
    assert.deepEqual(await feed(guest), expected);
    assert.equal(await ada.inputValue('#text'), '', 'the input is cleared after sending');
  });

  it('refuses to let the logged-out visitor post, in the page and on the socket', async () => {
    // Through the page, with the form forced open: the server's refusal is shown.
    await guest.evaluate(ENABLE_FORM);
    await guest.fill('#text', 'form say from the logged-out visitor');
    await guest.click('#send');
    await guest.locator('#error', { hasText: 'Log in to post.' }).waitFor();

    // Straight on the protocol: the 'say' event is acknowledged with an error.
    assert.deepEqual(await guest.evaluate(RAW_SAY), { error: 'Log in to post.' });

    // A message sent after both attempts arrives after anything they could have broadcast.
    await say(ada, 'ada again');
    await seen(guest, 'ada again');
    for (const page of [ada, guest]) {
      const lines = await feed(page);
      assert.deepEqual(lines.map((line) => line.text), ['Hello from ada', 'ada again']);
      assert.ok(lines.every((line) => line.from === 'ada'));
    }
  });

  it('whispers from ada reach bob only', async () => {
    await logIn(bob, 'bob', 'battery staple');
    await live(bob);

    await ada.fill('#text', '@bob hello');
    await ada.click('#send');
    await ada.locator('#messages li.whisper', { hasText: 'hello' }).waitFor();
    await bob.locator('#messages li.whisper', { hasText: 'hello' }).waitFor();
    assert.equal(await ada.textContent('#error'), '');

    // Again a public message as a barrier: once it has arrived, a stray whisper would have too.
    await say(ada, 'after the whisper');
    await seen(guest, 'after the whisper');
    await seen(bob, 'after the whisper');

    assert.deepEqual((await feed(ada)).filter((line) => line.whisper), [{ whisper: true, from: 'to bob', text: 'hello' }]);
    assert.deepEqual(await feed(bob), [
      { whisper: true, from: 'ada (whisper)', text: 'hello' },
      { whisper: false, from: 'ada', text: 'after the whisper' },
    ]);
    const guestLines = await feed(guest);
    assert.ok(!guestLines.some((line) => line.whisper || line.text.includes('hello')), JSON.stringify(guestLines));

    await ada.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('ran without script errors in any page', () => {
    assert.deepEqual(scriptErrors, []);
  });
});
