/**
 * @file The longrun API client: create an asynchronous operation, poll it
 * until it finishes, cancel it, build the URL of its event stream. Plain ES
 * module, no dependencies; works in browsers and in Node 20+ (anything
 * with `fetch`, `AbortSignal`, `setTimeout`).
 *
 * An operation is created at once (202) and then runs in the background;
 * `pollOperation` asks `GET /api/v1/operations/{id}` until its status is
 * `completed` (with `result`) or `failed` (with `error_message` and
 * `error_code`). A failed operation is an answer, not an error of the
 * client: the promise resolves with it.
 *
 * Polling rules:
 * - The first request goes out at once; after that one every
 *   `max(2000, intervalMs)` ms, or `max(2000, N * 1000)` ms when the last
 *   response carried `Retry-After: N`. Never faster than every 2 s.
 * - `If-None-Match` carries the last `ETag` received; a `304` means "no
 *   change" (onUpdate is not called). Without ETags it simply polls.
 * - Every request counts as an attempt; after `maxAttempts` of them
 *   (default 60 × 2.5 s ≈ 3 minutes) it gives up.
 * - `401` rejects with {@link UnauthenticatedError}, `404` with
 *   {@link OperationNotFoundError}, `422` with
 *   {@link InvalidOperationIdError}, another 4xx with an
 *   {@link OperationClientError} carrying the server's `detail.code`.
 * - `429` waits its `Retry-After` (at least 2 s) and tries again; network
 *   errors (fetch throws) and 5xx are transient and are retried on the next
 *   tick. All of these count as attempts.
 * - When the attempts run out, the error says why the last attempt did not
 *   finish: {@link RateLimitedError} if it was a 429,
 *   {@link NetworkError} if it was a network error or a 5xx, else
 *   {@link PollTimeoutError} (the operation was still pending/processing).
 *   Each carries `attempts`.
 * - Aborting `signal` stops at once: the timer is cleared, the request in
 *   flight is aborted (the signal is passed to fetch), and the promise
 *   rejects with the signal's reason (an `AbortError` DOMException unless
 *   `abort(reason)` gave another).
 *
 * Authentication: a service in `jwt` mode wants a bearer token on every
 * request. Pass it as the `token` option of each call: requests then send
 * `Authorization: Bearer <token>`, and {@link operationEventsUrl} puts it in
 * the `access_token` query parameter, since `EventSource` cannot send
 * headers. Without `token` no `Authorization` is sent (a service in `none`
 * mode wants none). A `401` rejects with {@link UnauthenticatedError} and
 * is never retried: the same token would be refused again.
 *
 * @example
 * import {
 *   createOperation, pollOperation, cancelOperation, operationEventsUrl,
 *   OperationClientError, PollTimeoutError, UnauthenticatedError,
 * } from './operations.js';
 *
 * const controller = new AbortController();
 * const token = undefined; // in jwt mode: the bearer token (a JWT)
 * const created = await createOperation(
 *   'question_generation',
 *   { role: 'Backend developer', difficulty: 'senior' },
 *   { idempotencyKey: newIdempotencyKey(), signal: controller.signal, token },
 * );
 * try {
 *   const op = await pollOperation(created.id, {
 *     signal: controller.signal,
 *     token,
 *     onUpdate: (op) => console.log(op.status, op.progress?.message),
 *   });
 *   if (op.status === 'completed') console.log(op.result.question_text);
 *   else console.log('failed:', op.error_code, op.error_message);
 * } catch (error) {
 *   if (error.name === 'AbortError') { } // we stopped watching
 *   else if (error instanceof PollTimeoutError) { } // gave up after ~3 min
 *   else if (error instanceof UnauthenticatedError) { } // no token, or refused
 *   else if (error instanceof OperationClientError) console.log(error.code, error.message);
 * }
 * // elsewhere, e.g. a Cancel button (the poll then sees failed / CANCELLED):
 * await cancelOperation(created.id, { token });
 * // or, instead of polling, the server's events:
 * const events = new EventSource(operationEventsUrl(created.id, { token }));
 */

/** Where the API lives, relative to the page's origin. */
export const API_PREFIX = '/api/v1/operations';

/** The shortest delay between two polls, whatever is asked. */
export const MIN_POLL_INTERVAL_MS = 2000;

/** Statuses after which an operation never changes. */
export const FINISHED_STATUSES = Object.freeze(['completed', 'failed']);

// ---------------------------------------------------------------------------
// Errors

/**
 * The base of every error this client throws (aborts excepted: those reject
 * with the signal's reason).
 * `code` is the server's `detail.code` where there was one (e.g.
 * `INVALID_INPUT`, `UNAUTHENTICATED`), else one of this client's own
 * (`NETWORK_ERROR`, `POLL_TIMEOUT`, `RATE_LIMITED`, `HTTP_<status>`);
 * `status` is the HTTP status, or `null` when no response was had.
 */
export class OperationClientError extends Error {
  /**
   * @param {string} message
   * @param {{code?: string, status?: number|null, cause?: unknown, attempts?: number}} [details]
   */
  constructor(message, { code = 'CLIENT_ERROR', status = null, cause, attempts } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    if (attempts !== undefined) this.attempts = attempts;
  }
}

/**
 * 401: the service wants a bearer token, and none was sent or it was
 * refused (malformed, expired, badly signed…); `message` says which.
 */
export class UnauthenticatedError extends OperationClientError {
  constructor(message = 'A bearer token is required.', details = {}) {
    super(message, { code: 'UNAUTHENTICATED', status: 401, ...details });
  }
}

/**
 * 404: no operation has this id (never existed, or deleted at retention),
 * or, in jwt mode, it belongs to someone else.
 */
export class OperationNotFoundError extends OperationClientError {
  constructor(message = 'Operation not found.', details = {}) {
    super(message, { code: 'OPERATION_NOT_FOUND', status: 404, ...details });
  }
}

/** 422 on an operation's URL: the id is not a UUID. */
export class InvalidOperationIdError extends OperationClientError {
  constructor(message = 'The operation id is not valid.', details = {}) {
    super(message, { code: 'INVALID_OPERATION_ID', status: 422, ...details });
  }
}

/** 429 until the attempts ran out. */
export class RateLimitedError extends OperationClientError {
  constructor(message = 'Too many requests; the server asked to slow down.', details = {}) {
    super(message, { code: 'RATE_LIMITED', status: 429, ...details });
  }
}

/** No usable answer: fetch threw (the server unreachable) or a 5xx. */
export class NetworkError extends OperationClientError {
  constructor(message = 'The server could not be reached.', details = {}) {
    super(message, { code: 'NETWORK_ERROR', status: null, ...details });
  }
}

/**
 * The operation was still unfinished after `maxAttempts` polls; its last
 * known state is `lastOperation` (null if none was received).
 */
export class PollTimeoutError extends OperationClientError {
  constructor(message = 'The operation did not finish in time.', details = {}) {
    super(message, { code: 'POLL_TIMEOUT', status: null, ...details });
  }
}

// ---------------------------------------------------------------------------
// Helpers

/** @param {AbortSignal|undefined} signal */
function abortReason(signal) {
  if (signal?.reason !== undefined) return signal.reason;
  return new DOMException('The operation was aborted.', 'AbortError');
}

/**
 * Waits `ms`, or rejects with the signal's reason as soon as it is aborted
 * (clearing the timer).
 */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `promise`, or the signal's reason as soon as it is aborted, even if
 * whatever `promise` waits for ignores the signal.
 */
function raceAbort(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * `Retry-After` in milliseconds (delta-seconds or an HTTP date), or null.
 * @param {Headers} headers
 */
export function retryAfterMs(headers) {
  const value = headers?.get('Retry-After');
  if (value == null || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - Date.now());
}

/** Reads the body of an error response: `{detail: {code, message}}`. */
async function readErrorDetail(response) {
  try {
    const body = await response.json();
    const detail = body && typeof body === 'object' ? body.detail : null;
    if (detail && typeof detail === 'object') {
      return {
        code: typeof detail.code === 'string' ? detail.code : null,
        message: typeof detail.message === 'string' ? detail.message : null,
      };
    }
  } catch {
    // Not JSON: fall back on the status.
  }
  return { code: null, message: null };
}

/**
 * The error for a response that is not a success, with the server's
 * `detail.code` and `detail.message`.
 * @param {Response} response
 * @returns {Promise<OperationClientError>}
 */
export async function errorFromResponse(response) {
  const { code, message } = await readErrorDetail(response);
  const status = response.status;
  const text = message ?? `The server answered ${status}${response.statusText ? ` ${response.statusText}` : ''}.`;
  if (status === 401) return new UnauthenticatedError(text, { code: code ?? 'UNAUTHENTICATED' });
  if (status === 404 && (code === null || code === 'OPERATION_NOT_FOUND')) {
    return new OperationNotFoundError(text);
  }
  if (status === 422 && code === 'INVALID_OPERATION_ID') return new InvalidOperationIdError(text);
  if (status === 429) return new RateLimitedError(text, { code: code ?? 'RATE_LIMITED' });
  return new OperationClientError(text, { code: code ?? `HTTP_${status}`, status });
}

function operationUrl(baseUrl, id) {
  return `${baseUrl}${API_PREFIX}/${encodeURIComponent(String(id))}`;
}

/** `headers` with `Authorization: Bearer <token>` when there is a token. */
function withToken(headers, token) {
  return token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
}

/** Calls fetch, mapping a thrown error to NetworkError unless aborted. */
async function send(fetchImpl, url, init, signal) {
  try {
    return await raceAbort(Promise.resolve().then(() => fetchImpl(url, init)), signal);
  } catch (error) {
    if (signal?.aborted) throw abortReason(signal);
    if (error?.name === 'AbortError') throw error;
    throw new NetworkError(`The server could not be reached: ${error?.message ?? error}`, { cause: error });
  }
}

/**
 * A fresh random `Idempotency-Key`: one per user action, reused only to
 * repeat that same action.
 */
export function newIdempotencyKey() {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not.
  const bytes = c.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------------------
// The API

/**
 * Creates an operation: `POST /api/v1/operations`.
 *
 * @param {string} operationType e.g. `question_generation`
 * @param {object} [input] the type's input
 * @param {{fetch?: typeof fetch, signal?: AbortSignal, idempotencyKey?: string, baseUrl?: string, token?: string}} [options]
 * @returns {Promise<object>} the created operation (status `pending`), or
 *   the existing one when `idempotencyKey` came before with this request
 * @throws {OperationClientError} with the server's `detail.code` (e.g.
 *   `INVALID_INPUT`, `UNKNOWN_OPERATION_TYPE`, `IDEMPOTENCY_KEY_REUSED`);
 *   {@link UnauthenticatedError}; {@link NetworkError} when the server
 *   cannot be reached
 */
export async function createOperation(
  operationType,
  input,
  { fetch: fetchImpl = globalThis.fetch, signal, idempotencyKey, baseUrl = '', token } = {},
) {
  const headers = withToken({ 'Content-Type': 'application/json', Accept: 'application/json' }, token);
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  const body = { operation_type: operationType };
  if (input !== undefined) body.input = input;
  const response = await send(
    fetchImpl,
    `${baseUrl}${API_PREFIX}`,
    { method: 'POST', headers, body: JSON.stringify(body), signal, cache: 'no-store' },
    signal,
  );
  if (!response.ok) throw await errorFromResponse(response);
  return raceAbort(response.json(), signal);
}

/**
 * Cancels a pending or processing operation:
 * `POST /api/v1/operations/{id}/cancel`.
 *
 * @param {string} id
 * @param {{fetch?: typeof fetch, signal?: AbortSignal, baseUrl?: string, token?: string}} [options]
 * @returns {Promise<object>} the operation after cancel (`failed`,
 *   `error_code` `CANCELLED`)
 * @throws {OperationClientError} code `OPERATION_ALREADY_FINISHED` (409)
 *   when it had finished; {@link OperationNotFoundError};
 *   {@link InvalidOperationIdError}; {@link UnauthenticatedError};
 *   {@link NetworkError}
 */
export async function cancelOperation(
  id,
  { fetch: fetchImpl = globalThis.fetch, signal, baseUrl = '', token } = {},
) {
  const headers = withToken({ Accept: 'application/json' }, token);
  const response = await send(
    fetchImpl,
    `${operationUrl(baseUrl, id)}/cancel`,
    { method: 'POST', headers, signal, cache: 'no-store' },
    signal,
  );
  if (!response.ok) throw await errorFromResponse(response);
  return raceAbort(response.json(), signal);
}

/**
 * Polls `GET /api/v1/operations/{id}` until the operation is `completed`
 * or `failed`, and resolves with it (a failed operation resolves too).
 * See the top of this file for the rules.
 *
 * @param {string} id
 * @param {object} [options]
 * @param {number} [options.intervalMs=2500] delay between polls (at least 2000)
 * @param {number} [options.maxAttempts=60] requests before giving up
 * @param {AbortSignal} [options.signal] stops polling at once
 * @param {(operation: object) => void} [options.onUpdate] called with each
 *   new state (each 200; not on a 304). If it throws, polling stops and
 *   the promise rejects with that error.
 * @param {typeof fetch} [options.fetch]
 * @param {string} [options.baseUrl=''] prefix of the API's URL
 * @param {string} [options.token] bearer token, for a service in jwt mode
 * @returns {Promise<object>} the finished operation
 */
export async function pollOperation(
  id,
  {
    intervalMs = 2500,
    maxAttempts = 60,
    signal,
    onUpdate,
    fetch: fetchImpl = globalThis.fetch,
    baseUrl = '',
    token,
  } = {},
) {
  if (signal?.aborted) throw abortReason(signal);
  const url = operationUrl(baseUrl, id);
  const baseDelay = Math.max(MIN_POLL_INTERVAL_MS, Number(intervalMs) || 0);
  const attemptsAllowed = Math.max(1, Math.floor(Number(maxAttempts) || 1));
  let etag = null;
  let latest = null;

  for (let attempt = 1; ; attempt += 1) {
    /** Why this attempt did not finish: 'pending' | 'rate-limited' | 'transient'. */
    let outcome = 'pending';
    let lastError = null;
    let retryAfter = null;

    const headers = withToken({ Accept: 'application/json' }, token);
    if (etag) headers['If-None-Match'] = etag;
    let response = null;
    try {
      response = await send(fetchImpl, url, { method: 'GET', headers, signal, cache: 'no-store' }, signal);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error; // an abort
      outcome = 'transient';
      lastError = error;
    }

    if (response) {
      retryAfter = retryAfterMs(response.headers);
      const status = response.status;
      if (status === 304) {
        // No change since `etag`: keep the last state.
      } else if (response.ok) {
        let operation;
        try {
          operation = await raceAbort(response.json(), signal);
        } catch (error) {
          if (signal?.aborted) throw abortReason(signal);
          operation = null;
          outcome = 'transient';
          lastError = new NetworkError('The server sent a response that is not JSON.', {
            status,
            cause: error,
          });
        }
        if (operation) {
          const received = response.headers.get('ETag');
          if (received) etag = received;
          latest = operation;
          if (onUpdate) onUpdate(operation);
          if (FINISHED_STATUSES.includes(operation.status)) return operation;
        }
      } else if (status === 429) {
        outcome = 'rate-limited';
        lastError = await errorFromResponse(response);
      } else if (status >= 500) {
        outcome = 'transient';
        const detail = await errorFromResponse(response);
        lastError = new NetworkError(detail.message, { status, cause: detail });
      } else {
        // 401, 404, 422 and any other 4xx: asking again will not help.
        throw await errorFromResponse(response);
      }
    }

    if (attempt >= attemptsAllowed) {
      const details = { attempts: attempt, cause: lastError ?? undefined };
      if (outcome === 'rate-limited') {
        throw new RateLimitedError(
          `Still rate limited after ${attempt} attempts: ${lastError?.message ?? ''}`.trim(),
          { ...details, code: lastError?.code ?? 'RATE_LIMITED' },
        );
      }
      if (outcome === 'transient') {
        throw new NetworkError(
          `The server could not be reached after ${attempt} attempts: ${lastError?.message ?? ''}`.trim(),
          { ...details, status: lastError?.status ?? null },
        );
      }
      const timeout = new PollTimeoutError(
        `The operation was still ${latest?.status ?? 'unfinished'} after ${attempt} attempts.`,
        details,
      );
      timeout.lastOperation = latest;
      throw timeout;
    }

    const delay = retryAfter === null ? baseDelay : Math.max(MIN_POLL_INTERVAL_MS, retryAfter);
    await sleep(delay, signal);
  }
}

/**
 * The URL of an operation's event stream,
 * `GET /api/v1/operations/{id}/events`, for `new EventSource(url)`. With
 * `token`, it goes in the `access_token` query parameter: EventSource
 * cannot send an `Authorization` header, and the service takes the
 * parameter on this route only.
 *
 * @param {string} id
 * @param {{baseUrl?: string, token?: string}} [options]
 * @returns {string}
 */
export function operationEventsUrl(id, { baseUrl = '', token } = {}) {
  const url = `${operationUrl(baseUrl, id)}/events`;
  return token ? `${url}?access_token=${encodeURIComponent(token)}` : url;
}

/** Whether an operation's status is final. */
export function isFinished(operation) {
  return FINISHED_STATUSES.includes(operation?.status);
}
