// The interview-practice page: question → answer → feedback, each step an
// asynchronous operation created, polled and cancellable through
// ./operations.js. `/?operation=<id>` watches an existing operation.
//
// When the service wants bearer tokens (jwt mode: its OpenAPI document has
// a `bearer` security scheme), a token field is shown; its value, kept in
// sessionStorage, goes with every API call. Otherwise the field stays
// hidden and no token is sent.
//
// CSP-friendly: no inline handlers or styles; sections are shown and hidden
// with the `hidden` attribute, progress goes through <progress>.

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
  pollOperation,
} from './operations.js';

const $ = (id) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element;
};

const el = {
  announcer: $('announcer'),
  auth: $('auth'),
  token: $('token'),
  questionForm: $('question-form'),
  role: $('role'),
  questionType: $('question-type'),
  difficulty: $('difficulty'),
  topic: $('topic'),
  generate: $('generate'),
  question: $('question'),
  questionHeading: $('question-heading'),
  questionMeta: $('question-meta'),
  questionText: $('question-text'),
  answerForm: $('answer-form'),
  answerText: $('answer-text'),
  submitAnswer: $('submit-answer'),
  skipQuestion: $('skip-question'),
  loading: $('loading'),
  loadingHeading: $('loading-heading'),
  status: $('status'),
  elapsed: $('elapsed'),
  progress: $('progress'),
  progressMessage: $('progress-message'),
  progressBar: $('progress-bar'),
  operationLink: $('operation-link'),
  operationId: $('operation-id'),
  cancel: $('cancel'),
  cancelError: $('cancel-error'),
  failure: $('failure'),
  failureHeading: $('failure-heading'),
  errorMessage: $('error-message'),
  errorCode: $('error-code'),
  retry: $('retry'),
  startOver: $('start-over'),
  feedback: $('feedback'),
  feedbackHeading: $('feedback-heading'),
  score: $('score'),
  scoreMeter: $('score-meter'),
  strengths: $('strengths'),
  improvements: $('improvements'),
  feedbackText: $('feedback-text'),
  nextQuestion: $('next-question'),
  result: $('result'),
  resultHeading: $('result-heading'),
  resultMeta: $('result-meta'),
  resultJson: $('result-json'),
  resultDone: $('result-done'),
  history: $('history'),
  historyList: $('history-list'),
};

/** What each operation type is called on the page. */
const KINDS = {
  question_generation: {
    running: 'Generating question…',
    done: 'Question ready',
    render: showQuestion,
  },
  answer_feedback: {
    running: 'Getting feedback…',
    done: 'Feedback ready',
    render: showFeedback,
  },
};
const OTHER_KIND = { running: 'Waiting for the operation…', done: 'Result ready', render: showResult };
const kindOf = (operationType) => KINDS[operationType] ?? OTHER_KIND;

const LABELS = {
  technical: 'Technical',
  behavioral: 'Behavioral',
  junior: 'Junior',
  middle: 'Middle',
  senior: 'Senior',
};

/** The server accepts at most this many previous_questions. */
const MAX_PREVIOUS_QUESTIONS = 500;

/** Where the page learns whether the API wants a token. */
const OPENAPI_URL = '/api/v1/openapi.json';

/** The sessionStorage key of the token: this tab only, gone when it closes. */
const TOKEN_KEY = 'longrun.token';

// ---------------------------------------------------------------------------
// State

/**
 * What this tab has asked, kept in sessionStorage so that a reload (the URL
 * carries `?operation=<id>`) resumes where it was.
 */
const session = loadSession();
/** The question being answered: {text, type}. */
let currentQuestion = null;
/**
 * The operation being shown: {operationType, input, operationId,
 * idempotencyKey, created, controller, startedAt, timer, settled}.
 */
let run = null;

function loadSession() {
  const fallback = { previousQuestions: [], requests: {} };
  try {
    const stored = JSON.parse(sessionStorage.getItem('longrun.session') ?? 'null');
    if (stored && Array.isArray(stored.previousQuestions) && stored.requests) return stored;
  } catch {
    // Storage disabled or garbled: start afresh.
  }
  return fallback;
}

function saveSession() {
  try {
    const ids = Object.keys(session.requests);
    for (const id of ids.slice(0, Math.max(0, ids.length - 20))) delete session.requests[id];
    sessionStorage.setItem('longrun.session', JSON.stringify(session));
  } catch {
    // Not fatal: only reload-resume is lost.
  }
}

// ---------------------------------------------------------------------------
// Small helpers

let announceTimer = null;
/** Says `text` through the one polite live region. */
function announce(text) {
  // Emptied first so that the same words twice are announced twice.
  el.announcer.textContent = '';
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => {
    el.announcer.textContent = text;
  }, 60);
}

function show(element, visible) {
  element.hidden = !visible;
}

/** Shows exactly the named step sections. */
function showSections({ question = false, loading = false, failure = false, feedback = false, result = false }) {
  show(el.question, question);
  show(el.loading, loading);
  show(el.failure, failure);
  show(el.feedback, feedback);
  show(el.result, result);
}

function focus(element) {
  element.focus({ preventScroll: true });
  element.scrollIntoView({ block: 'nearest' });
}

function formatElapsed(totalSeconds) {
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  return minutes === 0 ? `${seconds} s` : `${minutes} min ${String(seconds).padStart(2, '0')} s`;
}

function setUrl(operationId) {
  const url = new URL(window.location.href);
  if (operationId) url.searchParams.set('operation', operationId);
  else url.searchParams.delete('operation');
  if (url.href !== window.location.href) window.history.replaceState(null, '', url);
}

function fillList(list, items) {
  list.replaceChildren(
    ...(Array.isArray(items) && items.length > 0 ? items : ['—']).map((item) => {
      const li = document.createElement('li');
      li.textContent = String(item);
      return li;
    }),
  );
}

function busy() {
  return run !== null && !run.settled;
}

function setBusy(isBusy) {
  el.generate.disabled = isBusy;
  el.submitAnswer.disabled = isBusy;
  el.skipQuestion.disabled = isBusy;
  el.nextQuestion.disabled = isBusy;
}

// ---------------------------------------------------------------------------
// Running an operation

/**
 * Creates an operation (when `operationType` and `input` are given) or
 * watches an existing one (`operationId`), with the loading indicator,
 * until it is finished; then shows its result or its error.
 */
async function start({ operationType = null, input = null, operationId = null, idempotencyKey = null }) {
  stop();
  const current = {
    operationType,
    input,
    operationId,
    idempotencyKey,
    created: operationId !== null,
    controller: new AbortController(),
    startedAt: Date.now(),
    timer: null,
    settled: false,
  };
  run = current;
  setBusy(true);

  const kind = operationType ? kindOf(operationType) : { ...OTHER_KIND, running: 'Loading the operation…' };
  el.loadingHeading.textContent = kind.running;
  setStatus(operationId ? 'loading' : 'pending');
  el.operationId.textContent = operationId ?? '';
  el.operationLink.href = operationId ? `/?operation=${encodeURIComponent(operationId)}` : '/';
  el.operationLink.parentElement.hidden = !operationId;
  show(el.progress, false);
  el.cancel.disabled = true;
  el.cancel.hidden = false;
  show(el.cancelError, false);
  showSections({ question: operationType === 'answer_feedback', loading: true });
  if (operationType === 'answer_feedback') el.answerText.readOnly = true;
  announce(kind.running);
  tickElapsed(current);
  current.timer = setInterval(() => tickElapsed(current), 1000);
  const active = document.activeElement;
  if (!active || active === document.body || active.disabled || active.closest('[hidden]')) {
    focus(el.loadingHeading);
  }

  const { signal } = current.controller;
  try {
    if (!current.created) {
      const created = await createOperation(operationType, input, {
        ...tokenOption(),
        signal,
        idempotencyKey,
      });
      current.created = true;
      current.operationId = created.id;
      session.requests[created.id] = { operationType, input };
      saveSession();
      setUrl(created.id);
      el.operationId.textContent = created.id;
      el.operationLink.href = `/?operation=${encodeURIComponent(created.id)}`;
      el.operationLink.parentElement.hidden = false;
      update(current, created);
    }
    el.cancel.disabled = false;
    const operation = await pollOperation(current.operationId, {
      ...tokenOption(),
      signal,
      onUpdate: (op) => update(current, op),
    });
    finish(current, operation);
  } catch (error) {
    if (current.settled || run !== current) return; // stopped or superseded
    if (error?.name === 'AbortError') return;
    fail(current, error);
  }
}

/** Stops watching whatever runs (it goes on on the server). */
function stop() {
  if (!run) return;
  const previous = run;
  settle(previous);
  previous.controller.abort();
}

function settle(current) {
  current.settled = true;
  clearInterval(current.timer);
  if (run === current) setBusy(false);
}

function tickElapsed(current) {
  const seconds = Math.max(0, Math.floor((Date.now() - current.startedAt) / 1000));
  el.elapsed.textContent = formatElapsed(seconds);
  el.elapsed.dateTime = `PT${seconds}S`;
}

function setStatus(status) {
  el.status.textContent = status;
  el.status.dataset.status = status;
}

/** A new state of the running operation. */
function update(current, operation) {
  if (run !== current || current.settled) return;
  if (!current.operationType && operation.operation_type) {
    // A deep link: now the type is known.
    current.operationType = operation.operation_type;
    el.loadingHeading.textContent = kindOf(operation.operation_type).running;
    const created = Date.parse(operation.created_at);
    // Count from its creation when the clocks agree well enough.
    if (created <= current.startedAt && current.startedAt - created < 86_400_000) {
      current.startedAt = created;
      tickElapsed(current);
    }
  }
  setStatus(operation.status);
  const progress = operation.progress;
  if (progress && typeof progress === 'object' && Number.isFinite(progress.percent)) {
    const percent = Math.min(100, Math.max(0, progress.percent));
    el.progressBar.value = percent;
    el.progressBar.textContent = `${percent}%`;
    el.progressMessage.textContent = progress.message
      ? `${progress.message} (${percent}%)`
      : `${percent}% done`;
    show(el.progress, true);
  }
}

/** The operation finished: completed or failed. */
function finish(current, operation) {
  if (run !== current || current.settled) return;
  settle(current);
  setStatus(operation.status);
  if (operation.status === 'completed') {
    const kind = kindOf(operation.operation_type ?? current.operationType);
    kind.render(operation.result, operation, current);
    announce(kind.done);
    return;
  }
  const message = operation.error_message || 'The operation failed.';
  if (operation.error_code === 'CANCELLED') {
    showFailure(current, message, { heading: 'Cancelled', code: null });
    announce('Cancelled');
  } else {
    showFailure(current, message, { code: operation.error_code });
    announce(`Failed: ${message}`);
  }
}

/** The client could not get an answer (network, time-out, not found…). */
function fail(current, error) {
  settle(current);
  let message;
  let retry = true;
  let heading = 'It did not work';
  if (error instanceof PollTimeoutError) {
    heading = 'Timed out';
    const status = error.lastOperation?.status;
    message =
      'No result after about 3 minutes' +
      (status ? ` (the operation was still ${status}).` : '.') +
      ' Try again, or come back to this page later.';
  } else if (error instanceof OperationNotFoundError || error instanceof InvalidOperationIdError) {
    message = error.message;
    retry = Boolean(current.input);
  } else if (error instanceof UnauthenticatedError) {
    heading = 'Token needed';
    message = el.token.value.trim()
      ? `The token was refused: ${error.message} Paste a new one above, then try again.`
      : 'This service wants an access token: paste one above, then try again.';
    // The server said so, whatever the OpenAPI document did or did not.
    showTokenField();
  } else if (error instanceof RateLimitedError) {
    message = `The service is busy: ${error.message}`;
  } else if (error instanceof NetworkError) {
    message = 'The service could not be reached. Check your connection and try again.';
  } else if (error instanceof OperationClientError) {
    message = error.message;
  } else {
    message = `Something unexpected went wrong: ${error?.message ?? error}`;
    console.error(error);
  }
  showFailure(current, message, { heading, code: error?.code ?? null, retry });
  announce(`Failed: ${message}`);
}

function showFailure(current, message, { heading = 'It did not work', code = null, retry = true } = {}) {
  el.failureHeading.textContent = heading;
  el.errorMessage.textContent = message;
  el.errorCode.textContent = code ? `Code: ${code}` : '';
  el.errorCode.hidden = !code;
  el.retry.hidden = !retry;
  const answering = current.operationType === 'answer_feedback' && currentQuestion !== null;
  if (answering) el.answerText.readOnly = false;
  showSections({ question: answering, failure: true });
  focus(el.failureHeading);
}

/** Try again: the same request anew, or watch the same operation again. */
function retry() {
  const previous = run;
  if (!previous || busy()) return;
  const stored = previous.operationId ? session.requests[previous.operationId] : null;
  const request = previous.input ? previous : stored;
  if (request?.input && request.operationType) {
    // A request that never reached the server keeps its key (so that one
    // which did after all is not made twice); a new attempt gets a new one.
    const idempotencyKey =
      previous.input && !previous.created ? previous.idempotencyKey : newIdempotencyKey();
    start({ operationType: request.operationType, input: request.input, idempotencyKey });
  } else if (previous.operationId) {
    start({ operationId: previous.operationId });
  }
}

async function cancel() {
  const current = run;
  if (!current || current.settled || !current.operationId) return;
  el.cancel.disabled = true;
  show(el.cancelError, false);
  announce('Cancelling…');
  try {
    const operation = await cancelOperation(current.operationId, tokenOption());
    if (run !== current || current.settled) return;
    current.controller.abort();
    finish(current, operation);
  } catch (error) {
    if (run !== current || current.settled) return;
    if (error?.code === 'OPERATION_ALREADY_FINISHED') {
      // It finished meanwhile: the next poll shows how.
      el.cancelError.textContent = 'It had already finished.';
    } else {
      el.cancelError.textContent = `Could not cancel: ${error?.message ?? error}`;
      el.cancel.disabled = false;
    }
    show(el.cancelError, true);
    announce(el.cancelError.textContent);
  }
}

// ---------------------------------------------------------------------------
// Results

function showQuestion(result, operation) {
  const text = typeof result?.question_text === 'string' ? result.question_text : '';
  const type = result?.question_type === 'behavioral' ? 'behavioral' : 'technical';
  currentQuestion = { text, type };
  if (text && !session.previousQuestions.includes(text)) {
    session.previousQuestions.push(text);
    session.previousQuestions = session.previousQuestions.slice(-MAX_PREVIOUS_QUESTIONS);
    saveSession();
  }
  renderHistory();
  prefillForm(operation?.id, result);
  el.questionText.textContent = text;
  el.questionMeta.textContent = [LABELS[type], LABELS[result?.difficulty], result?.topic]
    .filter(Boolean)
    .join(' · ');
  el.answerText.value = '';
  el.answerText.readOnly = false;
  el.submitAnswer.hidden = false;
  el.skipQuestion.hidden = false;
  showSections({ question: true });
  focus(el.questionHeading);
}

function showFeedback(result, operation, current) {
  if (!currentQuestion) {
    // A deep link to feedback: show what was asked, if this tab knows.
    const stored = session.requests[operation?.id]?.input;
    if (stored?.question_text) {
      currentQuestion = { text: stored.question_text, type: stored.question_type ?? 'technical' };
      el.questionText.textContent = stored.question_text;
      el.questionMeta.textContent = LABELS[currentQuestion.type] ?? '';
      el.answerText.value = stored.answer_text ?? '';
    }
  }
  const score = Number(result?.score);
  el.score.textContent = Number.isFinite(score) ? String(score) : '–';
  el.scoreMeter.value = Number.isFinite(score) ? score : 0;
  fillList(el.strengths, result?.strengths);
  fillList(el.improvements, result?.improvements);
  el.feedbackText.textContent = result?.feedback_text ?? '';
  el.answerText.readOnly = true;
  el.submitAnswer.hidden = true;
  el.skipQuestion.hidden = true;
  showSections({ question: currentQuestion !== null || current?.input != null, feedback: true });
  focus(el.feedbackHeading);
}

function showResult(result, operation) {
  el.resultMeta.textContent = `${operation.operation_type} · completed`;
  el.resultJson.textContent = JSON.stringify(result, null, 2);
  showSections({ result: true });
  focus(el.resultHeading);
}

function renderHistory() {
  fillList(el.historyList, session.previousQuestions);
  show(el.history, session.previousQuestions.length > 0);
}

/** After a deep link, the form takes what this tab (or the result) knows. */
function prefillForm(operationId, result) {
  const stored = operationId ? session.requests[operationId]?.input : null;
  const source = { ...result, ...stored };
  if (!el.role.value && source.role) el.role.value = source.role;
  if (source.question_type in LABELS) el.questionType.value = source.question_type;
  if (source.difficulty in LABELS) el.difficulty.value = source.difficulty;
  if (!el.topic.value && stored?.topic) el.topic.value = stored.topic;
}

// ---------------------------------------------------------------------------
// The token (jwt mode)

function loadToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return ''; // Storage disabled: the token is asked again after a reload.
  }
}

function saveToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Not fatal: only the token is lost at a reload.
  }
}

/** The options that authenticate an API call: the token, when one was entered. */
function tokenOption() {
  return { token: el.token.value.trim() || undefined };
}

/**
 * Shows the token field with the token this tab kept. Filled only here, so
 * that a token kept from a service in jwt mode never goes to one in none
 * mode; once shown, it is left as the user typed it.
 */
function showTokenField() {
  if (!el.auth.hidden) return;
  el.token.value = loadToken();
  show(el.auth, true);
}

/**
 * Shows the token field when the API wants bearer tokens, which its OpenAPI
 * document says with a `bearer` security scheme (in jwt mode only).
 */
async function setUpAuth() {
  let openapi;
  try {
    const response = await fetch(OPENAPI_URL, { headers: { Accept: 'application/json' } });
    if (!response.ok) return;
    openapi = await response.json();
  } catch {
    // Unknown: carry on without a token; a 401 will show the field.
    return;
  }
  if (openapi?.components?.securitySchemes?.bearer) showTokenField();
}

// ---------------------------------------------------------------------------
// User actions

function requestQuestion() {
  if (busy()) return;
  el.role.value = el.role.value.trim();
  if (!el.questionForm.reportValidity()) {
    el.role.focus();
    return;
  }
  const input = {
    role: el.role.value,
    question_type: el.questionType.value,
    difficulty: el.difficulty.value,
  };
  const topic = el.topic.value.trim();
  if (topic) input.topic = topic;
  if (session.previousQuestions.length > 0) {
    input.previous_questions = session.previousQuestions.slice(-MAX_PREVIOUS_QUESTIONS);
  }
  start({ operationType: 'question_generation', input, idempotencyKey: newIdempotencyKey() });
}

function requestFeedback() {
  if (busy() || !currentQuestion) return;
  const answer = el.answerText.value.trim();
  el.answerText.setCustomValidity(answer ? '' : 'Write an answer first.');
  if (!el.answerForm.reportValidity()) return;
  start({
    operationType: 'answer_feedback',
    input: {
      question_text: currentQuestion.text,
      answer_text: answer,
      question_type: currentQuestion.type,
    },
    idempotencyKey: newIdempotencyKey(),
  });
}

function startOver() {
  stop();
  run = null;
  setBusy(false);
  currentQuestion = null;
  setUrl(null);
  showSections({});
  el.role.focus();
}

el.questionForm.addEventListener('submit', (event) => {
  event.preventDefault();
  requestQuestion();
});
el.answerForm.addEventListener('submit', (event) => {
  event.preventDefault();
  requestFeedback();
});
el.answerText.addEventListener('input', () => el.answerText.setCustomValidity(''));
el.skipQuestion.addEventListener('click', requestQuestion);
el.nextQuestion.addEventListener('click', () => {
  if (!el.role.value.trim()) {
    // A deep link to feedback leaves the form empty: ask for a role first.
    startOver();
    el.questionForm.reportValidity();
    return;
  }
  requestQuestion();
});
el.token.addEventListener('input', () => saveToken(el.token.value.trim()));
el.cancel.addEventListener('click', cancel);
el.retry.addEventListener('click', retry);
el.startOver.addEventListener('click', startOver);
el.resultDone.addEventListener('click', startOver);

// ---------------------------------------------------------------------------
// Start-up

renderHistory();
// Before a deep link polls: it needs the token, if the API wants one.
await setUpAuth();
const deepLink = new URLSearchParams(window.location.search).get('operation');
if (deepLink) {
  const stored = session.requests[deepLink];
  if (stored?.operationType === 'answer_feedback' && stored.input?.question_text) {
    currentQuestion = {
      text: stored.input.question_text,
      type: stored.input.question_type ?? 'technical',
    };
    el.questionText.textContent = currentQuestion.text;
    el.questionMeta.textContent = LABELS[currentQuestion.type] ?? '';
    el.answerText.value = stored.input.answer_text ?? '';
  }
  start({ operationId: deepLink });
}
