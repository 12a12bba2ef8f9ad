// End-to-end tests of the page in headless Chromium (Debian's, driven by
// playwright-core) against the real release binary. Run with
// `node --test tests/e2e/` from the repository root; harness.mjs says which
// binary and which Chromium, and where the screenshots go.
//
// - Until the server sends the Content-Security-Policy itself, the tests add
//   the intended policy to the page's response, and every test fails on a
//   console error (a CSP violation is one).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { collectProblems, launchBrowser, screenshot, startServer } from './harness.mjs';

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Long enough for two or three polls (every 2 s) and a slow machine. */
const WAIT_MS = 20_000;

let server = null;
let baseUrl = null;
let browser = null;

/** Calls the API directly (not through the page). */
async function api(method, pathname, body) {
  const response = await fetch(`${baseUrl}${pathname}`, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function createEcho(input) {
  const { status, body } = await api('POST', '/api/v1/operations', { operation_type: 'echo', input });
  assert.equal(status, 202, JSON.stringify(body));
  return body.id;
}

/**
 * A page in a fresh context; records console errors, page errors and the
 * requests the page makes.
 */
async function openPage({ width = 1024, height = 900, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme });
  await context.route(
    (url) => url.origin === baseUrl && url.pathname === '/',
    async (route) => {
      const response = await route.fetch();
      const headers = response.headers();
      if (!headers['content-security-policy']) headers['content-security-policy'] = CSP;
      await route.fulfill({ response, headers });
    },
  );
  const page = await context.newPage();
  const problems = collectProblems(page);
  const requests = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/')) {
      requests.push({
        method: request.method(),
        url: request.url(),
        headers: request.headers(),
        body: request.postData(),
        at: Date.now(),
      });
    }
  });
  return { context, page, problems, requests };
}

/**
 * Records, from now on, each status the loading indicator shows while it
 * is visible (a MutationObserver misses no change, however short).
 */
async function recordLoading(page) {
  await page.evaluate(() => {
    window.loadingSeen = [];
    const loading = document.getElementById('loading');
    const status = document.getElementById('status');
    const note = () => {
      if (!loading.hidden) window.loadingSeen.push(status.textContent);
    };
    new MutationObserver(note).observe(document.getElementById('main'), {
      subtree: true,
      childList: true,
      attributes: true,
      characterData: true,
    });
  });
}

const loadingSeen = (page) => page.evaluate(() => window.loadingSeen);

/** Two polls of one operation (by one page load) are at least 2 s apart. */
function assertPollCadence(requests) {
  const byOperation = new Map();
  for (const poll of requests.filter((r) => r.method === 'GET')) {
    byOperation.set(poll.url, [...(byOperation.get(poll.url) ?? []), poll]);
  }
  for (const list of byOperation.values()) {
    for (let i = 1; i < list.length; i += 1) {
      const gap = list[i].at - list[i - 1].at;
      assert.ok(gap >= 1900, `polls ${gap} ms apart`);
      assert.ok(gap <= 3500, `polls ${gap} ms apart`);
    }
  }
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

before(async () => {
  browser = await launchBrowser();
  server = await startServer();
  baseUrl = server.baseUrl;
});

after(async () => {
  try {
    await browser?.close();
  } finally {
    await server?.stop();
  }
});

describe('question, answer, feedback', () => {
  let session;

  before(async () => {
    session = await openPage();
  });

  after(async () => {
    await session?.context.close();
  });

  it('generates a question and shows its text', async () => {
    const { page, problems, requests } = session;
    await page.goto(`${baseUrl}/`);

    // Accessible: one live region, every control named.
    assert.equal(await page.locator('[aria-live]').count(), 1);
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea, button')]
        .filter((control) => {
          const labelled = control.labels && control.labels.length > 0;
          const named = control.getAttribute('aria-label') || control.getAttribute('aria-labelledby');
          const own = control.tagName === 'BUTTON' && control.textContent.trim();
          return !labelled && !named && !own;
        })
        .map((control) => control.id),
    );
    assert.deepEqual(unnamed, []);

    // Keyboard only: type the role, pick a difficulty, submit with Enter.
    await recordLoading(page);
    await page.locator('#role').focus();
    await page.keyboard.type('Senior Backend Developer');
    await page.locator('#difficulty').selectOption('senior');
    await page.locator('#topic').focus();
    await page.keyboard.type('API design');
    await page.keyboard.press('Enter');

    await visible(page, '#question-text');
    await waitForText(page, '#question-text', /\S{3,}/);
    const question = (await text(page, '#question-text')).trim();
    assert.ok(question.length > 10, question);
    assert.equal(await page.locator('#loading').isVisible(), false);
    const seen = await loadingSeen(page);
    assert.ok(seen.length > 0, 'the loading indicator was shown');
    assert.ok(seen.every((status) => ['pending', 'processing', 'completed'].includes(status)), seen.join());
    await waitForText(page, '#announcer', /^Question ready$/, 5000);

    const create = requests.find((r) => r.method === 'POST' && r.url.endsWith('/api/v1/operations'));
    assert.ok(create, 'the page created an operation');
    assert.ok(create.headers['idempotency-key'], 'with an Idempotency-Key');
    const body = JSON.parse(create.body);
    assert.equal(body.operation_type, 'question_generation');
    assert.deepEqual(body.input, {
      role: 'Senior Backend Developer',
      question_type: 'technical',
      difficulty: 'senior',
      topic: 'API design',
    });
    // The URL now names the operation, so a reload resumes it.
    assert.match(page.url(), /\?operation=[0-9a-f-]{36}$/);
    await page.reload();
    await waitForText(page, '#question-text', /\S{3,}/);
    assert.equal((await text(page, '#question-text')).trim(), question);
    assert.equal(await page.locator('#role').inputValue(), 'Senior Backend Developer');
    assert.equal(await page.locator('#history-list li').count(), 1);
    // No token field in none mode: the reloaded page resumed the operation
    // only after reading the OpenAPI document, which has no bearer scheme.
    assert.ok(requests.some((r) => r.url.endsWith('/api/v1/openapi.json')));
    assert.equal(await page.locator('#auth').isVisible(), false);
    assert.ok(requests.every((r) => !r.headers.authorization), 'no Authorization sent');
    await screenshot(page, '1-question');
    assert.deepEqual(problems, []);
  });

  it('submits an answer and shows the feedback, then a new question', async () => {
    const { page, problems, requests } = session;
    const since = Date.now();
    await recordLoading(page);
    const firstQuestion = (await text(page, '#question-text')).trim();
    await page.locator('#answer-text').fill(
      'I would design the API around resources with clear, versioned URLs, for example ' +
        '/v1/orders and /v1/orders/{id}. In my last project we served 2000 requests per ' +
        'second, so we added pagination, ETags and idempotency keys for retries. The trade-off ' +
        'was more complexity in the client, because it has to keep the keys, but it meant a ' +
        'retry never created a duplicate order. I learned to document error codes early and ' +
        'next time I would add contract tests from the start.',
    );
    await page.locator('#submit-answer').click();
    await visible(page, '#feedback');
    await waitForText(page, '#score', /^\d+$/);
    const score = Number(await text(page, '#score'));
    assert.ok(score >= 1 && score <= 10, `score ${score}`);
    assert.ok((await page.locator('#strengths li').count()) >= 1);
    assert.ok((await page.locator('#improvements li').count()) >= 1);
    assert.ok((await text(page, '#feedback-text')).trim().length > 0);
    await waitForText(page, '#announcer', /^Feedback ready$/, 5000);
    assert.ok((await loadingSeen(page)).length > 0, 'the loading indicator was shown');
    assert.equal(await page.locator('#answer-text').getAttribute('readonly'), '');

    const feedback = requests.findLast((r) => r.method === 'POST' && r.url.endsWith('/operations'));
    const input = JSON.parse(feedback.body).input;
    assert.equal(JSON.parse(feedback.body).operation_type, 'answer_feedback');
    assert.equal(input.question_text, firstQuestion);
    assert.equal(input.question_type, 'technical');
    await screenshot(page, '2-feedback');

    // Next question: the first one goes along as previous_questions.
    await recordLoading(page);
    await page.locator('#next-question').click();
    await visible(page, '#question-text');
    await waitForText(page, '#question-text', /\S{3,}/);
    const next = requests.findLast((r) => r.method === 'POST' && r.url.endsWith('/operations'));
    const nextInput = JSON.parse(next.body).input;
    assert.deepEqual(nextInput.previous_questions, [firstQuestion]);
    assert.notEqual(next.headers['idempotency-key'], feedback.headers['idempotency-key']);
    assert.notEqual((await text(page, '#question-text')).trim(), firstQuestion);
    assert.equal(await page.locator('#history-list li').count(), 2);
    assert.ok((await loadingSeen(page)).length > 0, 'the loading indicator was shown');

    assertPollCadence(requests.filter((r) => r.at >= since));
    assert.deepEqual(problems, []);
  });
});

it('shows the error message of a failed operation and a Try again button (phone width)', async () => {
  const id = await createEcho({ delay_ms: 500, fail: 'The model is unavailable' });
  const { context, page, problems } = await openPage({ width: 360, height: 740 });
  try {
    await page.goto(`${baseUrl}/?operation=${id}`);
    await visible(page, '#error');
    await waitForText(page, '#error', /The model is unavailable/);
    assert.equal(await page.locator('#error').getAttribute('role'), 'alert');
    assert.ok(await page.locator('#retry').isVisible());
    assert.equal((await text(page, '#retry')).trim(), 'Try again');
    assert.match(await text(page, '#error-code'), /HANDLER_ERROR/);
    assert.equal(await page.locator('#loading').isVisible(), false);
    await waitForText(page, '#announcer', /^Failed: The model is unavailable$/, 5000);
    // Nothing is wider than a 360 px screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(overflow <= 360, `page is ${overflow} px wide`);
    await screenshot(page, '3-failed-phone');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

it('cancels a running operation', async () => {
  const id = await createEcho({ delay_ms: 30_000 });
  const { context, page, problems, requests } = await openPage({ colorScheme: 'dark' });
  try {
    await page.goto(`${baseUrl}/?operation=${id}`);
    await visible(page, '#loading', 5000);
    await waitForText(page, '#status', /^(pending|processing)$/, 5000);
    await page.locator('#cancel:enabled').waitFor({ timeout: 5000 });
    await page.locator('#cancel').click();
    await visible(page, '#error', 5000);
    await waitForText(page, '#error', /Operation was cancelled/, 5000);
    assert.ok(await page.locator('#retry').isVisible());
    assert.equal(await page.locator('#loading').isVisible(), false);
    assert.ok(requests.some((r) => r.method === 'POST' && r.url.endsWith(`/${id}/cancel`)));

    const { body } = await api('GET', `/api/v1/operations/${id}`);
    assert.equal(body.status, 'failed');
    assert.equal(body.error_code, 'CANCELLED');
    await screenshot(page, '4-cancelled-dark');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

it('shows the loading indicator, elapsed time and progress while polling', async () => {
  const result = { answer: 42, steps: ['a', 'b'] };
  const id = await createEcho({ delay_ms: 3000, progress_steps: 3, result });
  const { context, page, problems, requests } = await openPage();
  try {
    await page.goto(`${baseUrl}/?operation=${id}`);
    await visible(page, '#loading', 5000);
    await waitForText(page, '#status', /^(pending|processing)$/, 5000);
    assert.ok(await page.locator('#cancel').isVisible());
    await waitForText(page, '#elapsed', /^[1-9]\d* s$/, 5000);
    await visible(page, '#progress', 10_000);
    await waitForText(page, '#progress-message', /Step [123] of 3/, 1000);
    const value = await page.locator('#progress-bar').evaluate((bar) => bar.value);
    assert.ok(value > 0 && value <= 100, `progress ${value}`);
    await screenshot(page, '5-progress');

    await visible(page, '#result');
    const shown = JSON.parse(await text(page, '#result-json'));
    assert.deepEqual(shown, result);
    assert.equal(await page.locator('#loading').isVisible(), false);

    const polls = requests.filter((r) => r.method === 'GET' && r.url.includes('/api/v1/operations/'));
    assert.ok(polls.length >= 2);
    assert.ok(polls.slice(1).some((r) => r.headers['if-none-match']), 'polls send If-None-Match');
    assertPollCadence(polls);
    await screenshot(page, '6-result');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
