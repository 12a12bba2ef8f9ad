// End-to-end tests of the page against the real binary in jwt mode, in
// headless Chromium. Run with `node --test tests/e2e/` from the repository
// root; harness.mjs says which binary and which Chromium, and where the
// screenshots go.
//
// - The page learns from the OpenAPI document that the API wants bearer
//   tokens, shows a token field, and sends its value with every API call.
//   Tokens come from `longrun token <sub>`, as a user of the page gets them.
// - The page runs under the server's own Content-Security-Policy. Every test
//   fails on a console error, except the browser's own note of an error
//   response the test asks for (a 401, a 404): these tests are about them.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { collectProblems, launchBrowser, screenshot, startServer } from './harness.mjs';

/** Long enough for two or three polls (every 2 s) and a slow machine. */
const WAIT_MS = 20_000;

/** A 401 must end in an error at once, not after polls or retries. */
const ERROR_WAIT_MS = 5000;

const SECRET = randomBytes(32).toString('hex');

let server = null;
let baseUrl = null;
let browser = null;

before(async () => {
  browser = await launchBrowser();
  server = await startServer({
    operations: ['auth={mode="jwt"}'],
    env: { LONGRUN_JWT_SECRET: SECRET },
  });
  baseUrl = server.baseUrl;
});

after(async () => {
  try {
    await browser?.close();
  } finally {
    await server?.stop();
  }
});

/**
 * A page in a fresh context (so a fresh sessionStorage); records problems
 * and the operations requests the page makes, with their Authorization.
 */
async function openPage() {
  const context = await browser.newContext({ viewport: { width: 1024, height: 900 } });
  const page = await context.newPage();
  const problems = collectProblems(page);
  const requests = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/v1/operations')) {
      requests.push({
        method: request.method(),
        url: request.url(),
        authorization: request.headers().authorization,
      });
    }
  });
  return { context, page, problems, requests };
}

/**
 * `problems` without Chromium's note of a response with one of `statuses`
 * ("Failed to load resource: the server responded with a status of 401…").
 */
function unexpected(problems, statuses = [401]) {
  const note = new RegExp(`the server responded with a status of (${statuses.join('|')})\\b`);
  return problems.filter((problem) => !note.test(problem));
}

/** Calls the API directly (not through the page), with `token` if given. */
async function getOperation(id, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(`${baseUrl}/api/v1/operations/${id}`, { headers });
  return { status: response.status, body: await response.json() };
}

const text = (page, selector) => page.locator(selector).textContent();
const visible = (page, selector, timeout = WAIT_MS) =>
  page.locator(selector).waitFor({ state: 'visible', timeout });

async function waitForText(page, selector, pattern, timeout = WAIT_MS) {
  await page.waitForFunction(
    ([sel, source, flags]) => {
      const element = document.querySelector(sel);
      return element !== null && new RegExp(source, flags).test(element.textContent ?? '');
    },
    [selector, pattern.source, pattern.flags],
    { timeout },
  );
}

describe('question generation with a token', () => {
  let session;

  before(async () => {
    session = await openPage();
  });

  after(async () => {
    await session?.context.close();
  });

  it('shows a labelled token field that says where a token comes from', async () => {
    const { page, problems } = session;
    await page.goto(`${baseUrl}/`);
    await visible(page, '#token', ERROR_WAIT_MS);
    assert.equal((await text(page, 'label[for="token"]')).trim(), 'Token (a JWT)');
    assert.equal(await page.locator('#token').getAttribute('aria-describedby'), 'token-hint');
    const hint = (await text(page, '#token-hint')).replace(/\s+/g, ' ');
    assert.match(hint, /demo page/);
    assert.match(hint, /longrun token <name>/);
    assert.equal(await page.locator('#token').inputValue(), '');
    assert.deepEqual(problems, []);
  });

  it('without a token, shows an error instead of waiting', async () => {
    const { page, problems, requests } = session;
    await page.locator('#role').fill('Backend developer');
    await page.locator('#generate').click();

    await visible(page, '#error', ERROR_WAIT_MS);
    assert.equal((await text(page, '#failure-heading')).trim(), 'Token needed');
    assert.match(await text(page, '#error-message'), /wants an access token/);
    assert.match(await text(page, '#error-code'), /UNAUTHENTICATED/);
    assert.equal(await page.locator('#loading').isVisible(), false);
    assert.ok(await page.locator('#retry').isVisible());
    // One request, without a token, and no retry of it.
    assert.deepEqual(
      requests.map((r) => [r.method, r.authorization]),
      [['POST', undefined]],
    );
    await screenshot(page, 'jwt-1-no-token');
    assert.deepEqual(unexpected(problems), []);
  });

  it('with a token from `longrun token alice`, creates a question and sees it complete', async () => {
    const { page, problems, requests } = session;
    const token = server.mintToken('alice');
    const since = requests.length;
    await page.locator('#token').fill(token);
    await page.locator('#retry').click();

    await visible(page, '#question-text');
    await waitForText(page, '#question-text', /\S{3,}/);
    await waitForText(page, '#announcer', /^Question ready$/, ERROR_WAIT_MS);
    const question = (await text(page, '#question-text')).trim();
    const calls = requests.slice(since);
    assert.ok(calls.some((r) => r.method === 'POST'), 'created');
    assert.ok(calls.some((r) => r.method === 'GET'), 'polled');
    for (const call of calls) assert.equal(call.authorization, `Bearer ${token}`, call.url);

    // The operation is alice's: the API shows it to her token only.
    const id = new URL(page.url()).searchParams.get('operation');
    const mine = await getOperation(id, token);
    assert.equal(mine.status, 200);
    assert.equal(mine.body.status, 'completed');
    assert.equal(mine.body.owner, 'alice');
    assert.equal((await getOperation(id)).status, 401);

    // A reload keeps the token (sessionStorage) and resumes with it.
    await page.reload();
    await visible(page, '#token', ERROR_WAIT_MS);
    assert.equal(await page.locator('#token').inputValue(), token);
    await waitForText(page, '#question-text', /\S{3,}/);
    assert.equal((await text(page, '#question-text')).trim(), question);
    await screenshot(page, 'jwt-2-question');
    assert.deepEqual(unexpected(problems), []);
  });
});

it("a deep link asks for a token, and someone else's operation is not found", async () => {
  const alice = server.mintToken('alice');
  const created = await fetch(`${baseUrl}/api/v1/operations`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${alice}` },
    body: JSON.stringify({ operation_type: 'echo', input: {} }),
  });
  assert.equal(created.status, 202);
  const { id } = await created.json();

  const { context, page, problems, requests } = await openPage();
  try {
    await page.goto(`${baseUrl}/?operation=${id}`);
    await visible(page, '#error', ERROR_WAIT_MS);
    assert.match(await text(page, '#error-code'), /UNAUTHENTICATED/);
    assert.ok(await page.locator('#token').isVisible());

    await page.locator('#token').fill(server.mintToken('bob'));
    await page.locator('#retry').click();
    await waitForText(page, '#error-code', /OPERATION_NOT_FOUND/, ERROR_WAIT_MS);
    assert.equal(await page.locator('#loading').isVisible(), false);
    const polls = requests.filter((r) => r.url.endsWith(`/${id}`));
    assert.deepEqual(
      polls.map((r) => Boolean(r.authorization)),
      [false, true],
      'one poll without a token, one with, and no retry of either',
    );
    await screenshot(page, 'jwt-3-not-found');
    assert.deepEqual(unexpected(problems, [401, 404]), []);
  } finally {
    await context.close();
  }
});
