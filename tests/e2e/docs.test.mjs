// End-to-end tests of the API docs page (/docs/, Swagger UI built into the
// binary) in headless Chromium against the real binary. Run with
// `node --test tests/e2e/` from the repository root; harness.mjs says which
// binary and which Chromium, and where the screenshots go.
//
// - The page runs under the server's own Content-Security-Policy: a
//   violation is a console error, and every test fails on one.
// - Swagger UI must render every operation of the OpenAPI document the
//   server serves, and reach no other host.

import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';

import { collectProblems, launchBrowser, screenshot, startServer } from './harness.mjs';

const WAIT_MS = 20_000;

/** The keys of a path item that are operations (the rest are not). */
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Operations the docs must show whatever else the document gains. */
const REQUIRED = [
  'GET /api/v1/operations/{operation_id}',
  'POST /api/v1/operations',
  'POST /api/v1/operations/{operation_id}/cancel',
  'GET /api/v1/operations/{operation_id}/events',
  'POST operationFinished',
];

let server = null;
let browser = null;

before(async () => {
  browser = await launchBrowser();
  server = await startServer();
});

after(async () => {
  try {
    await browser?.close();
  } finally {
    await server?.stop();
  }
});

/** A page in a fresh context; records problems and every request it makes. */
async function openPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = collectProblems(page);
  const requests = [];
  page.on('request', (request) => requests.push(request.url()));
  return { context, page, problems, requests };
}

/** "METHOD /path" of each operation in the document's `paths`, and "METHOD name" of each webhook. */
function documentedOperations(document) {
  // Swagger UI draws a webhook (OpenAPI 3.1) under its name, as it does a path.
  const items = [...Object.entries(document.paths), ...Object.entries(document.webhooks ?? {})];
  return items.flatMap(([name, item]) =>
    Object.keys(item)
      .filter((key) => METHODS.includes(key))
      .map((method) => `${method.toUpperCase()} ${name}`),
  );
}

/**
 * The sources each script directive of `policy` allows, by directive; a
 * missing script-src falls back to default-src. Null when nothing limits
 * scripts at all.
 */
function scriptSources(policy) {
  const directives = new Map(
    policy
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter(([name]) => name)
      .map(([name, ...sources]) => [name.toLowerCase(), sources]),
  );
  const scripts = ['script-src', 'script-src-elem', 'script-src-attr'].filter((name) => directives.has(name));
  if (!directives.has('script-src')) {
    if (!directives.has('default-src')) return null;
    scripts.push('default-src');
  }
  return new Map(scripts.map((name) => [name, directives.get(name)]));
}

/**
 * Scripts only from the origin: 'self', or an inline one the page names by
 * nonce or hash. Anything else ('unsafe-eval', 'unsafe-inline',
 * 'strict-dynamic', a host, a scheme, *) fails.
 */
const OWN_SCRIPT = /^'(self|none|nonce-[^']+|sha(256|384|512)-[^']+|report-sample)'$/i;

it('renders every operation of the OpenAPI document, under a strict CSP', async () => {
  const { context, page, problems, requests } = await openPage();
  try {
    const response = await page.goto(`${server.baseUrl}/docs/`);
    assert.equal(response.status(), 200);

    // Several policies all apply: one that keeps scripts to the origin is enough.
    const policies = await response.headerValues('content-security-policy');
    assert.ok(policies.length > 0, '/docs/ sends a Content-Security-Policy');
    const strict = policies.filter((policy) => {
      const sources = scriptSources(policy);
      return sources !== null && [...sources.values()].every((list) => list.every((s) => OWN_SCRIPT.test(s)));
    });
    assert.ok(strict.length > 0, `no policy keeps scripts to the origin: ${JSON.stringify(policies)}`);

    // Swagger UI fetches the document, then draws one .opblock per operation.
    await page.locator('.opblock').first().waitFor({ state: 'visible', timeout: WAIT_MS });
    const shown = await page.evaluate(() =>
      [...document.querySelectorAll('.opblock')].map((block) => {
        const method = block.querySelector('.opblock-summary-method')?.textContent ?? '';
        // Deprecated operations have their own class; the path breaks at
        // <wbr> (no text) and, in some versions, at zero-width spaces.
        const path = block.querySelector('.opblock-summary-path, .opblock-summary-path__deprecated');
        return `${method.trim().toUpperCase()} ${(path?.textContent ?? '').replace(/\u200b/g, '').trim()}`;
      }),
    );
    // A document Swagger UI cannot resolve shows in its error box, not in the console.
    assert.deepEqual(await page.locator('.errors-wrapper').allTextContents(), []);

    const document = await (await fetch(`${server.baseUrl}/api/v1/openapi.json`)).json();
    const documented = documentedOperations(document);
    assert.equal(new Set(shown).size, shown.length, `an operation is shown twice: ${shown.join(', ')}`);
    assert.deepEqual([...shown].sort(), [...documented].sort());
    for (const operation of REQUIRED) assert.ok(shown.includes(operation), `${operation} is shown`);

    // Everything the page loads comes from the server itself.
    const elsewhere = requests.filter((url) => !url.startsWith(`${server.baseUrl}/`) && !url.startsWith('data:'));
    assert.deepEqual(elsewhere, []);

    await screenshot(page, 'docs');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

it('moves /docs to /docs/, so that the page finds its files', async () => {
  const moved = await fetch(`${server.baseUrl}/docs`, { redirect: 'manual' });
  assert.ok([301, 308].includes(moved.status), `status ${moved.status}`);
  assert.equal(new URL(moved.headers.get('location'), server.baseUrl).href, `${server.baseUrl}/docs/`);

  const { context, page, problems } = await openPage();
  try {
    const response = await page.goto(`${server.baseUrl}/docs`);
    assert.equal(response.status(), 200);
    assert.equal(page.url(), `${server.baseUrl}/docs/`);
    await page.locator('.opblock').first().waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
