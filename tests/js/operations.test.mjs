// Unit tests of static/js/operations.js: a fake fetch (passed in the
// options) answers with real `Response` objects, and Node's mock timers
// stand in for setTimeout and Date, so the request times can be checked to
// the millisecond. Run with `node --test tests/js/`.

import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';

import {
  InvalidOperationIdError,
  NetworkError,
  OperationClientError,
  OperationNotFoundError,
  PollTimeoutError,
  RateLimitedError,
  UnauthenticatedError,
  cancelOperation,
  createOperation,
  newIdempotencyKey,
  operationEventsUrl,
  pollOperation,
  retryAfterMs,
} from '../../static/js/operations.js';

const ID = '6f1c9a52-3d0e-4b8a-9f47-2c5e8d7b1a30';
const OP_URL = `/api/v1/operations/${ID}`;

function operation(status, extra = {}) {
  return {
    id: ID,
    operation_type: 'echo',
    status,
    result: null,
    error_message: null,
    error_code: null,
    attempts: status === 'pending' ? 0 : 1,
    progress: null,
    created_at: '2026-11-28T10:00:00.120Z',
    updated_at: '2026-11-28T10:00:00.120Z',
    ...extra,
  };
}

function json(body, { status = 200, headers = {} } = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

function apiError(status, code, message, headers = {}) {
  return json({ detail: { code, message } }, { status, headers });
}

function notModified(headers = {}) {
  return new Response(null, { status: 304, headers });
}

/**
 * A fetch that answers from `script` in order (the last entry repeats).
 * An entry is a Response, a function `(url, init) => Response | Promise`
 * (which may throw), or an Error to throw. Records every call with the
 * (mocked) time it was made.
 */
function fakeFetch(script) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url, init, at: Date.now(), headers: new Headers(init.headers) });
    const entry = script[Math.min(calls.length - 1, script.length - 1)];
    if (entry instanceof Error) throw entry;
    const response = typeof entry === 'function' ? await entry(url, init) : entry;
    // A Response body can be read once: hand out a copy when repeating.
    return response.clone();
  };
  return { fetch, calls };
}

/** Lets pending promise callbacks (and Response body reads) run. */
async function flush() {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** Watches a promise without letting a rejection go unhandled. */
function track(promise) {
  const state = { settled: false, value: undefined, error: undefined };
  state.promise = promise.then(
    (value) => {
      Object.assign(state, { settled: true, value });
    },
    (error) => {
      Object.assign(state, { settled: true, error });
    },
  );
  return state;
}

/** Advances the mocked clock in `step` ms slices until `state` settles. */
async function runUntilSettled(state, { step = 100, limitMs = 400_000 } = {}) {
  await flush();
  for (let elapsed = 0; !state.settled && elapsed < limitMs; elapsed += step) {
    mock.timers.tick(step);
    await flush();
  }
  assert.ok(state.settled, `still running after ${limitMs} ms of mocked time`);
  return state;
}

async function advance(ms, step = 100) {
  await flush();
  for (let done = 0; done < ms; done += step) {
    mock.timers.tick(Math.min(step, ms - done));
    await flush();
  }
}

const gaps = (calls) => calls.slice(1).map((call, i) => call.at - calls[i].at);

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
});

afterEach(() => {
  mock.timers.reset();
});

describe('pollOperation', () => {
  it('resolves with the completed operation, calling onUpdate for each state', async () => {
    const progress = { percent: 50, message: 'Half way' };
    const { fetch, calls } = fakeFetch([
      json(operation('pending'), { headers: { 'Retry-After': '2' } }),
      json(operation('processing', { progress }), { headers: { 'Retry-After': '2' } }),
      json(operation('completed', { result: { question_text: 'Why?' } })),
    ]);
    const updates = [];
    const state = track(pollOperation(ID, { fetch, onUpdate: (op) => updates.push(op) }));

    await flush();
    assert.equal(calls.length, 1, 'the first request goes out at once');
    assert.equal(calls[0].at, 0);
    assert.equal(calls[0].url, OP_URL);
    assert.equal(calls[0].init.method, 'GET');

    await runUntilSettled(state);
    assert.equal(state.error, undefined);
    assert.equal(state.value.status, 'completed');
    assert.deepEqual(state.value.result, { question_text: 'Why?' });
    assert.deepEqual(
      updates.map((op) => op.status),
      ['pending', 'processing', 'completed'],
    );
    assert.deepEqual(updates[1].progress, progress);
    assert.equal(calls.length, 3);
  });

  it('resolves (does not reject) with a failed operation', async () => {
    const { fetch, calls } = fakeFetch([
      json(operation('processing')),
      json(
        operation('failed', {
          error_code: 'HANDLER_ERROR',
          error_message: 'The model is unavailable',
        }),
      ),
    ]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch })));
    assert.equal(state.error, undefined);
    assert.equal(state.value.status, 'failed');
    assert.equal(state.value.error_code, 'HANDLER_ERROR');
    assert.equal(state.value.error_message, 'The model is unavailable');
    assert.equal(calls.length, 2);
  });

  it('stops at a finished operation without polling again', async () => {
    const { fetch, calls } = fakeFetch([json(operation('completed', { result: 1 }))]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch })));
    assert.equal(state.value.status, 'completed');
    await advance(10_000);
    assert.equal(calls.length, 1);
  });

  it('gives up with PollTimeoutError after exactly maxAttempts (60) requests', async () => {
    const { fetch, calls } = fakeFetch([json(operation('processing'))]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch })), { step: 500 });
    assert.ok(state.error instanceof PollTimeoutError, String(state.error));
    assert.ok(state.error instanceof OperationClientError);
    assert.equal(state.error.code, 'POLL_TIMEOUT');
    assert.equal(state.error.attempts, 60);
    assert.equal(state.error.lastOperation.status, 'processing');
    assert.equal(calls.length, 60);
    // 59 gaps of 2.5 s: the last request at 147.5 s, the give-up right after it.
    assert.equal(calls.at(-1).at, 59 * 2500);
    assert.ok(gaps(calls).every((gap) => gap === 2500), gaps(calls).join(','));
    await advance(10_000, 500);
    assert.equal(calls.length, 60, 'no request after giving up');
  });

  it('honours a smaller maxAttempts', async () => {
    const { fetch, calls } = fakeFetch([json(operation('pending'))]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch, maxAttempts: 3 })));
    assert.ok(state.error instanceof PollTimeoutError);
    assert.equal(calls.length, 3);
  });

  it('never polls faster than every 2 s', async () => {
    const { fetch, calls } = fakeFetch([
      json(operation('pending')),
      json(operation('processing')),
      json(operation('processing', { attempts: 2 })),
      json(operation('completed')),
    ]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch, intervalMs: 500 })), {
      step: 50,
    });
    assert.equal(state.value.status, 'completed');
    assert.deepEqual(gaps(calls), [2000, 2000, 2000]);
  });

  it('uses intervalMs when it is above the floor', async () => {
    const { fetch, calls } = fakeFetch([json(operation('pending')), json(operation('completed'))]);
    await runUntilSettled(track(pollOperation(ID, { fetch, intervalMs: 3000 })), { step: 50 });
    assert.deepEqual(gaps(calls), [3000]);
  });

  it('waits Retry-After when given, with the same 2 s floor', async () => {
    const { fetch, calls } = fakeFetch([
      json(operation('pending'), { headers: { 'Retry-After': '5' } }),
      json(operation('processing'), { headers: { 'Retry-After': '1' } }),
      json(operation('processing', { attempts: 2 })), // none: back to intervalMs
      json(operation('processing', { attempts: 3 }), { headers: { 'Retry-After': '0' } }),
      json(operation('completed')),
    ]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch })), { step: 50 });
    assert.equal(state.value.status, 'completed');
    assert.deepEqual(gaps(calls), [5000, 2000, 2500, 2000]);
  });

  it('sends If-None-Match with the last ETag and treats 304 as no change', async () => {
    const { fetch, calls } = fakeFetch([
      json(operation('processing'), { headers: { ETag: '"v1"' } }),
      notModified({ ETag: '"v1"', 'Retry-After': '2' }),
      notModified({ ETag: '"v1"' }),
      json(operation('processing', { progress: { percent: 50, message: 'x' } }), {
        headers: { ETag: '"v2"' },
      }),
      json(operation('completed', { result: 'done' }), { headers: { ETag: '"v3"' } }),
    ]);
    const updates = [];
    const state = await runUntilSettled(
      track(pollOperation(ID, { fetch, onUpdate: (op) => updates.push(op) })),
    );
    assert.equal(state.value.status, 'completed');
    assert.equal(state.value.result, 'done');
    assert.deepEqual(
      calls.map((call) => call.headers.get('If-None-Match')),
      [null, '"v1"', '"v1"', '"v1"', '"v2"'],
    );
    assert.equal(updates.length, 3, 'the two 304s did not call onUpdate');
    assert.deepEqual(
      updates.map((op) => op.status),
      ['processing', 'processing', 'completed'],
    );
  });

  it('keeps the last state across 304s (it is what a time-out reports)', async () => {
    const { fetch } = fakeFetch([
      json(operation('processing', { progress: { percent: 10, message: 'a' } }), {
        headers: { ETag: '"v1"' },
      }),
      notModified({ ETag: '"v1"' }),
    ]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch, maxAttempts: 4 })));
    assert.ok(state.error instanceof PollTimeoutError);
    assert.deepEqual(state.error.lastOperation.progress, { percent: 10, message: 'a' });
  });

  it('works without ETags: no If-None-Match is sent', async () => {
    const { fetch, calls } = fakeFetch([
      json(operation('pending')),
      json(operation('processing')),
      json(operation('completed')),
    ]);
    await runUntilSettled(track(pollOperation(ID, { fetch })));
    assert.equal(calls.length, 3);
    assert.ok(calls.every((call) => !call.headers.has('If-None-Match')));
  });

  it('passes the signal to fetch and stops at once when it is aborted between polls', async () => {
    const { fetch, calls } = fakeFetch([json(operation('processing'))]);
    const controller = new AbortController();
    const state = track(pollOperation(ID, { fetch, signal: controller.signal }));
    await advance(2500);
    assert.equal(calls.length, 2);
    assert.equal(calls[0].init.signal, controller.signal);

    const setSpy = mock.method(globalThis, 'setTimeout');
    const clearSpy = mock.method(globalThis, 'clearTimeout');
    try {
      await advance(2500); // the third poll, and its timer
      assert.equal(calls.length, 3);
      assert.equal(setSpy.mock.callCount(), 1);
      const timer = setSpy.mock.calls[0].result;

      controller.abort();
      await flush();
      assert.ok(state.settled, 'rejected without waiting for the timer');
      assert.equal(state.error.name, 'AbortError');
      assert.ok(
        clearSpy.mock.calls.some((call) => call.arguments[0] === timer),
        'the pending timer was cleared',
      );
    } finally {
      setSpy.mock.restore();
      clearSpy.mock.restore();
    }
    await advance(60_000, 500);
    assert.equal(calls.length, 3, 'no request after the abort');
  });

  it('rejects with the abort reason when one is given', async () => {
    const { fetch } = fakeFetch([json(operation('processing'))]);
    const controller = new AbortController();
    const state = track(pollOperation(ID, { fetch, signal: controller.signal }));
    await flush();
    const reason = new Error('navigated away');
    controller.abort(reason);
    await flush();
    assert.equal(state.error, reason);
  });

  it('stops at once when aborted while a request is in flight', async () => {
    const calls = [];
    // A fetch that never answers and ignores the signal.
    const fetch = (url, init) => {
      calls.push(init);
      return new Promise(() => {});
    };
    const controller = new AbortController();
    const state = track(pollOperation(ID, { fetch, signal: controller.signal }));
    await flush();
    assert.equal(calls.length, 1);
    controller.abort();
    await flush();
    assert.ok(state.settled);
    assert.equal(state.error.name, 'AbortError');
  });

  it('makes no request when the signal is already aborted', async () => {
    const { fetch, calls } = fakeFetch([json(operation('processing'))]);
    const state = track(pollOperation(ID, { fetch, signal: AbortSignal.abort() }));
    await flush();
    assert.equal(state.error.name, 'AbortError');
    assert.equal(calls.length, 0);
  });

  it('retries after a network error and then succeeds', async () => {
    const { fetch, calls } = fakeFetch([
      json(operation('processing')),
      new TypeError('fetch failed'),
      json(operation('completed', { result: 42 })),
    ]);
    const updates = [];
    const state = await runUntilSettled(
      track(pollOperation(ID, { fetch, onUpdate: (op) => updates.push(op.status) })),
    );
    assert.equal(state.value.result, 42);
    assert.equal(calls.length, 3);
    assert.deepEqual(gaps(calls), [2500, 2500]);
    assert.deepEqual(updates, ['processing', 'completed']);
  });

  it('retries after a 5xx, honouring its Retry-After', async () => {
    const { fetch, calls } = fakeFetch([
      apiError(503, 'SERVICE_UNAVAILABLE', 'The database is unavailable. Retry shortly.', {
        'Retry-After': '5',
      }),
      apiError(500, 'INTERNAL_ERROR', 'The server failed to handle this request.'),
      json(operation('completed')),
    ]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch })));
    assert.equal(state.value.status, 'completed');
    assert.deepEqual(gaps(calls), [5000, 2500]);
  });

  it('rejects with NetworkError when the attempts run out on transient errors', async () => {
    const { fetch, calls } = fakeFetch([new TypeError('fetch failed')]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch, maxAttempts: 4 })));
    assert.ok(state.error instanceof NetworkError, String(state.error));
    assert.ok(state.error instanceof OperationClientError);
    assert.equal(state.error.code, 'NETWORK_ERROR');
    assert.equal(state.error.attempts, 4);
    assert.equal(calls.length, 4);
  });

  it('maps 404 to OperationNotFoundError with the server message, without retrying', async () => {
    const message = 'Operation not found. It may have expired or never existed.';
    const { fetch, calls } = fakeFetch([apiError(404, 'OPERATION_NOT_FOUND', message)]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch })));
    assert.ok(state.error instanceof OperationNotFoundError);
    assert.ok(state.error instanceof OperationClientError);
    assert.equal(state.error.code, 'OPERATION_NOT_FOUND');
    assert.equal(state.error.status, 404);
    assert.equal(state.error.message, message);
    assert.equal(calls.length, 1);
  });

  it('maps 422 to InvalidOperationIdError', async () => {
    const { fetch, calls } = fakeFetch([
      apiError(422, 'INVALID_OPERATION_ID', 'Operation ids are UUIDs such as …'),
    ]);
    const state = await runUntilSettled(track(pollOperation('not-an-id', { fetch })));
    assert.ok(state.error instanceof InvalidOperationIdError);
    assert.equal(state.error.code, 'INVALID_OPERATION_ID');
    assert.equal(state.error.status, 422);
    assert.equal(state.error.message, 'Operation ids are UUIDs such as …');
    assert.equal(calls[0].url, '/api/v1/operations/not-an-id');
  });

  it('encodes the id in the URL', async () => {
    const { fetch, calls } = fakeFetch([json(operation('completed'))]);
    await runUntilSettled(track(pollOperation('a/b?c', { fetch })));
    assert.equal(calls[0].url, '/api/v1/operations/a%2Fb%3Fc');
  });

  it('waits out a 429 (Retry-After, at least 2 s) and counts it as an attempt', async () => {
    const { fetch, calls } = fakeFetch([
      apiError(429, 'TOO_MANY_REQUESTS', 'Slow down', { 'Retry-After': '3' }),
      apiError(429, 'TOO_MANY_REQUESTS', 'Slow down', { 'Retry-After': '1' }),
      json(operation('completed')),
    ]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch, maxAttempts: 3 })));
    assert.equal(state.value.status, 'completed');
    assert.deepEqual(gaps(calls), [3000, 2000]);
  });

  it('rejects with RateLimitedError when the attempts run out while rate limited', async () => {
    const { fetch, calls } = fakeFetch([
      json(operation('processing')),
      apiError(429, 'TOO_MANY_REQUESTS', 'Slow down', { 'Retry-After': '4' }),
    ]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch, maxAttempts: 3 })));
    assert.ok(state.error instanceof RateLimitedError, String(state.error));
    assert.ok(state.error instanceof OperationClientError);
    assert.equal(state.error.status, 429);
    assert.equal(state.error.attempts, 3);
    assert.equal(calls.length, 3);
    assert.deepEqual(gaps(calls), [2500, 4000]);
  });

  it('rejects at once on another 4xx, with the server code', async () => {
    const { fetch, calls } = fakeFetch([apiError(400, 'BAD_REQUEST', 'Bad')]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch })));
    assert.ok(state.error instanceof OperationClientError);
    assert.equal(state.error.code, 'BAD_REQUEST');
    assert.equal(state.error.status, 400);
    assert.equal(calls.length, 1);
  });

  it('stops and rejects when onUpdate throws', async () => {
    const { fetch, calls } = fakeFetch([json(operation('processing'))]);
    const boom = new Error('render failed');
    const state = await runUntilSettled(
      track(
        pollOperation(ID, {
          fetch,
          onUpdate: () => {
            throw boom;
          },
        }),
      ),
    );
    assert.equal(state.error, boom);
    assert.equal(calls.length, 1);
  });
});

describe('createOperation', () => {
  it('POSTs the type and input with the Idempotency-Key and returns the operation', async () => {
    const created = operation('pending', { operation_type: 'question_generation' });
    const { fetch, calls } = fakeFetch([
      json(created, {
        status: 202,
        headers: { Location: OP_URL, 'Retry-After': '2' },
      }),
    ]);
    const input = { role: 'Backend developer', difficulty: 'senior' };
    const result = await createOperation('question_generation', input, {
      fetch,
      idempotencyKey: 'key-1',
    });
    assert.deepEqual(result, created);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, '/api/v1/operations');
    assert.equal(calls[0].init.method, 'POST');
    assert.equal(calls[0].headers.get('Idempotency-Key'), 'key-1');
    assert.equal(calls[0].headers.get('Content-Type'), 'application/json');
    assert.deepEqual(JSON.parse(calls[0].init.body), {
      operation_type: 'question_generation',
      input,
    });
  });

  it('sends no Idempotency-Key unless given', async () => {
    const { fetch, calls } = fakeFetch([json(operation('pending'), { status: 202 })]);
    await createOperation('echo', {}, { fetch });
    assert.equal(calls[0].headers.has('Idempotency-Key'), false);
  });

  it('rejects with the server code and message (INVALID_INPUT)', async () => {
    const message = 'Invalid input: role: is required.';
    const { fetch } = fakeFetch([apiError(422, 'INVALID_INPUT', message)]);
    await assert.rejects(createOperation('question_generation', {}, { fetch }), (error) => {
      assert.ok(error instanceof OperationClientError);
      assert.equal(error.code, 'INVALID_INPUT');
      assert.equal(error.status, 422);
      assert.equal(error.message, message);
      return true;
    });
  });

  it('maps other error responses to their codes', async () => {
    for (const [status, code] of [
      [422, 'UNKNOWN_OPERATION_TYPE'],
      [409, 'IDEMPOTENCY_KEY_REUSED'],
      [400, 'INVALID_IDEMPOTENCY_KEY'],
      [413, 'PAYLOAD_TOO_LARGE'],
      [503, 'SERVICE_UNAVAILABLE'],
    ]) {
      const { fetch } = fakeFetch([apiError(status, code, `${code} happened`)]);
      await assert.rejects(createOperation('x', {}, { fetch }), (error) => {
        assert.ok(error instanceof OperationClientError);
        assert.equal(error.code, code);
        assert.equal(error.status, status);
        assert.equal(error.message, `${code} happened`);
        return true;
      });
    }
  });

  it('copes with an error body that is not JSON', async () => {
    const { fetch } = fakeFetch([new Response('<h1>Bad gateway</h1>', { status: 502 })]);
    await assert.rejects(createOperation('x', {}, { fetch }), (error) => {
      assert.ok(error instanceof OperationClientError);
      assert.equal(error.code, 'HTTP_502');
      assert.equal(error.status, 502);
      return true;
    });
  });

  it('rejects with NetworkError when fetch throws', async () => {
    const { fetch } = fakeFetch([new TypeError('fetch failed')]);
    await assert.rejects(createOperation('x', {}, { fetch }), (error) => {
      assert.ok(error instanceof NetworkError);
      assert.equal(error.code, 'NETWORK_ERROR');
      assert.equal(error.status, null);
      return true;
    });
  });

  it('rejects with AbortError when aborted', async () => {
    const fetch = () => new Promise(() => {});
    const controller = new AbortController();
    const pending = createOperation('x', {}, { fetch, signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
  });
});

describe('cancelOperation', () => {
  it('POSTs to /cancel and returns the cancelled operation', async () => {
    const cancelled = operation('failed', {
      error_code: 'CANCELLED',
      error_message: 'Operation was cancelled',
    });
    const { fetch, calls } = fakeFetch([json(cancelled)]);
    const result = await cancelOperation(ID, { fetch });
    assert.deepEqual(result, cancelled);
    assert.equal(calls[0].url, `${OP_URL}/cancel`);
    assert.equal(calls[0].init.method, 'POST');
  });

  it('maps 409 to OPERATION_ALREADY_FINISHED', async () => {
    const message =
      'The operation has already finished (completed); there is nothing to cancel.';
    const { fetch } = fakeFetch([apiError(409, 'OPERATION_ALREADY_FINISHED', message)]);
    await assert.rejects(cancelOperation(ID, { fetch }), (error) => {
      assert.ok(error instanceof OperationClientError);
      assert.equal(error.code, 'OPERATION_ALREADY_FINISHED');
      assert.equal(error.status, 409);
      assert.equal(error.message, message);
      return true;
    });
  });

  it('maps 404 to OperationNotFoundError', async () => {
    const { fetch } = fakeFetch([apiError(404, 'OPERATION_NOT_FOUND', 'gone')]);
    await assert.rejects(cancelOperation(ID, { fetch }), OperationNotFoundError);
  });
});

describe('bearer token (jwt mode)', () => {
  // A JWT's three base64url parts; the last one is where `-` and `_` go.
  const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln-_x';
  const UNAUTHENTICATED = 'A bearer token is required: send Authorization: Bearer <token>.';
  const unauthorized = () =>
    apiError(401, 'UNAUTHENTICATED', UNAUTHENTICATED, { 'WWW-Authenticate': 'Bearer realm="longrun"' });

  /** Creates, polls (two requests) and cancels with `options`; returns every call. */
  async function everyCall(options) {
    const { fetch, calls } = fakeFetch([
      json(operation('pending'), { status: 202 }),
      json(operation('processing'), { headers: { ETag: '"v1"' } }),
      json(operation('completed')),
      json(operation('failed', { error_code: 'CANCELLED' })),
    ]);
    await createOperation('echo', {}, { fetch, idempotencyKey: 'key-1', ...options });
    await runUntilSettled(track(pollOperation(ID, { fetch, ...options })));
    await cancelOperation(ID, { fetch, ...options });
    assert.equal(calls.length, 4);
    return calls;
  }

  it('sends Authorization: Bearer <token> on every request when token is given', async () => {
    const calls = await everyCall({ token: TOKEN });
    for (const call of calls) assert.equal(call.headers.get('Authorization'), `Bearer ${TOKEN}`, call.url);
    // The other headers are still there.
    assert.equal(calls[0].headers.get('Idempotency-Key'), 'key-1');
    assert.equal(calls[2].headers.get('If-None-Match'), '"v1"');
  });

  it('sends no Authorization without a token', async () => {
    for (const options of [{}, { token: undefined }, { token: '' }]) {
      const calls = await everyCall(options);
      assert.ok(
        calls.every((call) => !call.headers.has('Authorization')),
        JSON.stringify(options),
      );
    }
  });

  it('puts the token, encoded, in the access_token parameter of the events URL', () => {
    assert.equal(operationEventsUrl(ID), `${OP_URL}/events`);
    assert.equal(
      operationEventsUrl(ID, { token: TOKEN, baseUrl: 'http://127.0.0.1:8000' }),
      `http://127.0.0.1:8000${OP_URL}/events?access_token=${TOKEN}`,
    );
    const url = new URL(operationEventsUrl('a/b', { token: 'a+b/c=&d e' }), 'http://x');
    assert.equal(url.pathname, '/api/v1/operations/a%2Fb/events');
    assert.equal(url.search, '?access_token=a%2Bb%2Fc%3D%26d%20e');
    assert.equal(url.searchParams.get('access_token'), 'a+b/c=&d e');
  });

  it('rejects a poll on 401 with UnauthenticatedError, without retrying', async () => {
    const { fetch, calls } = fakeFetch([unauthorized()]);
    const state = await runUntilSettled(track(pollOperation(ID, { fetch, token: 'expired' })));
    assert.ok(state.error instanceof UnauthenticatedError, String(state.error));
    assert.ok(state.error instanceof OperationClientError);
    assert.equal(state.error.code, 'UNAUTHENTICATED');
    assert.equal(state.error.status, 401);
    assert.equal(state.error.message, UNAUTHENTICATED);
    await advance(10_000, 500);
    assert.equal(calls.length, 1, 'no request after the 401');
  });

  it('rejects create and cancel on 401 with UnauthenticatedError', async () => {
    for (const call of [
      (fetch) => createOperation('echo', {}, { fetch }),
      (fetch) => cancelOperation(ID, { fetch }),
    ]) {
      const { fetch, calls } = fakeFetch([unauthorized()]);
      await assert.rejects(call(fetch), (error) => {
        assert.ok(error instanceof UnauthenticatedError, String(error));
        assert.equal(error.code, 'UNAUTHENTICATED');
        assert.equal(error.message, UNAUTHENTICATED);
        return true;
      });
      assert.equal(calls.length, 1);
    }
  });

  it('maps a 401 without a JSON body to UNAUTHENTICATED too', async () => {
    const { fetch } = fakeFetch([new Response('Unauthorized', { status: 401 })]);
    await assert.rejects(createOperation('echo', {}, { fetch }), (error) => {
      assert.ok(error instanceof UnauthenticatedError);
      assert.equal(error.code, 'UNAUTHENTICATED');
      assert.equal(error.status, 401);
      return true;
    });
  });
});

describe('helpers', () => {
  it('newIdempotencyKey gives fresh keys of visible ASCII', () => {
    const keys = new Set(Array.from({ length: 100 }, () => newIdempotencyKey()));
    assert.equal(keys.size, 100);
    for (const key of keys) assert.match(key, /^[\x21-\x7e]{1,255}$/);
  });

  it('retryAfterMs reads seconds and HTTP dates', () => {
    const headers = (value) => new Headers(value === undefined ? {} : { 'Retry-After': value });
    assert.equal(retryAfterMs(headers('5')), 5000);
    assert.equal(retryAfterMs(headers('0')), 0);
    assert.equal(retryAfterMs(headers(undefined)), null);
    assert.equal(retryAfterMs(headers('soon')), null);
    // Date is mocked at 0 (1970-01-01T00:00:00Z).
    assert.equal(retryAfterMs(headers('Thu, 01 Jan 1970 00:00:07 GMT')), 7000);
  });
});
