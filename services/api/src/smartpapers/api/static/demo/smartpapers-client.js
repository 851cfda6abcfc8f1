// smartpapers-client.js: submit a quiz answer sheet and wait for its grade.
//
// A plain ES module with no dependencies and no build step (docs/demo-page.md). It speaks
// both answers of POST /api/submissions — 201 {submissionId, score, total} (graded in the
// request: the sync/rollback mode, or Prefer: wait) and 202 {jobId, statusUrl} (queued) —
// and follows a queued job with Server-Sent Events read through fetch() (EventSource cannot
// send an Authorization header), falling back to polling the status endpoint every 2 s,
// honouring Retry-After (docs/push.md).
//
//   import { submitAndWait, SubmissionError } from "/demo/smartpapers-client.js";
//   const { result } = await submitAndWait({ submission, token, onStatus: (job) => … });

const FINAL = new Set(["completed", "failed"]);
const TRANSIENT = new Set(["network", "rate_limited", "unavailable"]);

/**
 * A job's status: the body of GET /api/submissions/status/{jobId} (and of each SSE event).
 * @typedef {object} JobStatus
 * @property {string|null} jobId
 * @property {"queued"|"processing"|"completed"|"failed"} status
 * @property {JobResult|null} [result]
 * @property {string|null} [error]
 */

/**
 * @typedef {object} JobResult
 * @property {string} submissionId
 * @property {number} score
 * @property {number} total
 */

/**
 * Why a submission did not end with a score.
 *
 * `kind`, by what happened:
 * - `"not_found"`: 404 — unknown paper (on submit) or unknown job (while waiting)
 * - `"invalid"`: 422 (also 400, 409 Idempotency-Key reused with another body, 413)
 * - `"rate_limited"`: 429; wait `retryAfter` seconds
 * - `"unavailable"`: 503 (or another 5xx); wait `retryAfter` seconds
 * - `"unauthorized"`: 401 / 403 (auth mode jwt: no, an expired or a refused token)
 * - `"network"`: the API could not be reached (or the connection broke)
 * - `"failed"`: the job ended `failed`; `detail` is the job's `error`
 * - `"http"`: any other answer
 *
 * An aborted call rejects with the signal's reason (an `AbortError`), not with this.
 */
export class SubmissionError extends Error {
  /**
   * @param {string} kind
   * @param {string} message
   * @param {{status?: number, retryAfter?: number|null, detail?: unknown, code?: string|null,
   *          job?: JobStatus|null, cause?: unknown}} [extra]
   */
  constructor(kind, message, extra = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "SubmissionError";
    /** @type {string} */
    this.kind = kind;
    /** HTTP status; 0 when there was no answer. @type {number} */
    this.status = extra.status ?? 0;
    /** Seconds to wait before retrying (Retry-After, clamped to [1, 60]). @type {number|null} */
    this.retryAfter = extra.retryAfter ?? null;
    /**
     * 422: the API's validation details, `[{loc: [...], msg, type}]`; failed: the job's
     * error text; otherwise null. @type {unknown}
     */
    this.detail = extra.detail ?? null;
    /** The API's error code (`job_not_found`, `invalid_request`, …). @type {string|null} */
    this.code = extra.code ?? null;
    /** The final job status (kind `"failed"`). @type {JobStatus|null} */
    this.job = extra.job ?? null;
  }
}

/**
 * Retry-After in seconds (the delta-seconds form), clamped to [1, 60]; null when absent.
 * @param {Headers} headers
 * @returns {number|null}
 */
export function retryAfterSeconds(headers) {
  const value = Number.parseInt(headers.get("Retry-After") ?? "", 10);
  return Number.isFinite(value) ? Math.min(60, Math.max(1, value)) : null;
}

function kindOf(status) {
  if (status === 404) return "not_found";
  if ([400, 409, 413, 422].includes(status)) return "invalid";
  if (status === 401 || status === 403) return "unauthorized";
  if (status === 429) return "rate_limited";
  if (status >= 500) return "unavailable";
  return "http";
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new SubmissionError(kindOf(response.status), body?.message ?? `HTTP ${response.status}`, {
    status: response.status,
    retryAfter: retryAfterSeconds(response.headers),
    detail: body?.details ?? null,
    code: body?.error ?? null,
  });
}

function aborted(signal) {
  return signal?.reason ?? new DOMException("aborted", "AbortError");
}

function sleep(seconds, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(aborted(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, seconds * 1000);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Parses a `text/event-stream` body (any line ending; comments and `retry:` ignored).
 * @param {ReadableStream<Uint8Array>} body
 * @param {() => void} onBytes called for every chunk (heartbeats included)
 * @param {AbortSignal} signal cancels the read (the body of a fetch() stub may ignore it)
 * @returns {AsyncGenerator<{event: string, data: string, id: string|null}>}
 */
async function* readEvents(body, onBytes, signal) {
  const reader = body.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", cancel, { once: true });
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  let event = "";
  let id = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      onBytes();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let start = 0;
      for (let i = 0; i < buffer.length; i += 1) {
        const c = buffer[i];
        if (c !== "\n" && c !== "\r") continue;
        if (c === "\r" && i + 1 === buffer.length && !done) break; // maybe half of \r\n
        const line = buffer.slice(start, i);
        if (c === "\r" && buffer[i + 1] === "\n") i += 1;
        start = i + 1;
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n"), id };
          data = [];
          event = "";
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const name = colon < 0 ? line : line.slice(0, colon);
          const field = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (name === "data") data.push(field);
          else if (name === "event") event = field;
          else if (name === "id" && !field.includes("\0")) id = field;
        }
      }
      buffer = buffer.slice(start);
      if (done) return;
    }
  } finally {
    signal.removeEventListener("abort", cancel);
    cancel();
  }
}

/** Follows the job over SSE: its final status, or null when SSE cannot get there. */
async function followEvents(ctx) {
  const { statusUrl, auth, signal, strict, staleSeconds } = ctx;
  let lastEventId = null;
  let reconnected = false;
  for (;;) {
    let progressed = false;
    const stale = new AbortController();
    const onAbort = () => stale.abort(aborted(signal));
    signal?.addEventListener("abort", onAbort, { once: true });
    let timer = null;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => stale.abort(new Error("stream stalled")), staleSeconds * 1000);
    };
    try {
      arm();
      const headers = { ...auth, Accept: "text/event-stream" };
      if (lastEventId !== null) headers["Last-Event-ID"] = lastEventId;
      const response = await ctx.fetch(`${statusUrl}/events`, {
        headers, cache: "no-store", signal: stale.signal,
      });
      const type = response.headers.get("Content-Type") ?? "";
      if (!response.ok || !type.startsWith("text/event-stream") || !response.body) {
        if (strict) throw response.ok
          ? new SubmissionError("http", `not an event stream: ${type}`, { status: response.status })
          : await errorFrom(response);
        return null; // no SSE here (an older API, a proxy that refuses it): poll
      }
      for await (const message of readEvents(response.body, arm, stale.signal)) {
        if (message.event !== "status") continue;
        const job = JSON.parse(message.data);
        progressed = true;
        lastEventId = message.id ?? lastEventId;
        ctx.emit(job, "sse");
        if (FINAL.has(job.status)) return job;
      }
    } catch (e) {
      if (signal?.aborted) throw aborted(signal);
      if (e instanceof SubmissionError) throw e;
      // the connection broke, stalled or sent garbage: reconnect (once) below
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
    // the stream ended before a final status (a pod stopped, SMARTPAPERS_SSE_MAX_SECONDS)
    if (progressed) reconnected = false;
    if (reconnected) {
      if (strict) throw new SubmissionError("network", "the event stream failed twice");
      return null;
    }
    reconnected = true;
  }
}

/** Polls the status endpoint (with If-None-Match) until the job is final. */
async function poll(ctx, firstDelay) {
  const { statusUrl, auth, signal, interval, maxRetries } = ctx;
  let delay = firstDelay;
  let etag = null;
  let failures = 0;
  for (;;) {
    await sleep(delay, signal);
    let error;
    try {
      const headers = { ...auth, Accept: "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      const response = await ctx.fetch(statusUrl, { headers, cache: "no-store", signal });
      if (response.status === 304) {
        failures = 0;
        delay = interval;
        continue;
      }
      if (response.ok) {
        const job = await response.json();
        failures = 0;
        etag = response.headers.get("ETag");
        ctx.emit(job, "poll");
        if (FINAL.has(job.status)) return job;
        delay = retryAfterSeconds(response.headers) ?? interval;
        continue;
      }
      error = await errorFrom(response);
    } catch (e) {
      if (signal?.aborted) throw aborted(signal);
      error = e instanceof SubmissionError
        ? e : new SubmissionError("network", `cannot reach the API: ${e.message}`, { cause: e });
    }
    failures += 1;
    if (!TRANSIENT.has(error.kind) || failures > maxRetries) throw error;
    delay = error.retryAfter ?? interval;
    ctx.onRetry?.({ error, delaySeconds: delay });
  }
}

/**
 * Submits a student's answers and resolves with the grade.
 *
 * - **201** (graded in the request): resolves at once.
 * - **202** (queued): follows the job over SSE (`GET {statusUrl}/events`, event `status`),
 *   reconnecting once with `Last-Event-ID` when a stream breaks; when SSE is refused or
 *   fails again, polls `GET {statusUrl}` every `pollInterval` seconds or as `Retry-After`
 *   says (clamped to [1, 60]); 429 / 503 / network errors while waiting are retried
 *   (`maxRetries` in a row, each reported to `onRetry`).
 *
 * @param {object} options
 * @param {string} [options.baseUrl] the API's origin, e.g. "https://quiz.example.com"
 *   ("" = the page's own)
 * @param {{studentId: string, paperId: string, instituteId: string,
 *          answers: {questionId: string, answer: string|number|boolean|null}[]}} options.submission
 *   the body of POST /api/submissions
 * @param {string} [options.token] a bearer JWT (auth mode jwt)
 * @param {string} [options.idempotencyKey] send the same key again to retry the same
 *   submission safely (the API answers with the first job)
 * @param {(job: JobStatus, info: {transport: "sync"|"sse"|"poll"}) => void} [options.onStatus]
 *   every status: the 202's `queued`, then each change (`processing`, `completed`, …)
 * @param {(info: {error: SubmissionError, delaySeconds: number}) => void} [options.onRetry]
 *   a transient error while waiting, retried after `delaySeconds`
 * @param {AbortSignal} [options.signal] stops waiting (rejects with its reason)
 * @param {"auto"|"sse"|"poll"} [options.transport] `auto`: SSE, polling as the fallback;
 *   `sse`: SSE only (its failure is an error); `poll`: polling only
 * @param {number} [options.pollInterval] seconds between polls without Retry-After (2)
 * @param {number} [options.maxRetries] transient errors in a row while waiting (5)
 * @param {number} [options.staleSeconds] an SSE stream silent this long is reconnected (45;
 *   the API sends a heartbeat every 15 s)
 * @param {typeof fetch} [options.fetch] the fetch to use (tests, other runtimes)
 * @returns {Promise<{result: JobResult, jobId: string|null,
 *                    transport: "sync"|"sse"|"poll"}>}
 * @throws {SubmissionError}
 */
export async function submitAndWait({
  baseUrl = "", submission, token, idempotencyKey, onStatus, onRetry, signal,
  transport = "auto", pollInterval = 2, maxRetries = 5, staleSeconds = 45,
  fetch: fetchImpl = (...args) => globalThis.fetch(...args),
}) {
  if (!["auto", "sse", "poll"].includes(transport)) throw new TypeError(`transport ${transport}`);
  const origin = baseUrl.replace(/\/+$/, "");
  const resolve = (path) => (/^https?:\/\//.test(path) ? path : `${origin}${path}`);
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  const headers = { ...auth, "Content-Type": "application/json", Accept: "application/json" };
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let last = "";
  const emit = (job, via) => {
    const text = JSON.stringify(job);
    if (text !== last) onStatus?.(job, { transport: via });
    last = text;
  };
  let response;
  try {
    response = await fetchImpl(resolve("/api/submissions"), {
      method: "POST", headers, body: JSON.stringify(submission), signal,
    });
  } catch (e) {
    if (signal?.aborted) throw aborted(signal);
    throw new SubmissionError("network", `cannot reach the API: ${e.message}`, { cause: e });
  }
  if (response.status === 201) {
    const result = await response.json();
    const jobId = (response.headers.get("Location") ?? "").split("/").pop() || null;
    emit({ jobId, status: "completed", result, error: null }, "sync");
    return { result, jobId, transport: "sync" };
  }
  if (response.status !== 202) throw await errorFrom(response);
  const accepted = await response.json();
  emit({ jobId: accepted.jobId, status: accepted.status ?? "queued", result: null, error: null },
    transport === "poll" ? "poll" : "sse");
  const ctx = {
    statusUrl: resolve(accepted.statusUrl ?? `/api/submissions/status/${accepted.jobId}`),
    auth, signal, emit, onRetry, interval: pollInterval, maxRetries, staleSeconds,
    strict: transport === "sse", fetch: fetchImpl,
  };
  let final = null;
  let via = "sse";
  if (transport !== "poll") final = await followEvents(ctx);
  if (final === null) {
    via = "poll";
    // polling from the start waits as the 202 said; after SSE gave up, ask at once
    const first = transport === "poll" ? retryAfterSeconds(response.headers) ?? pollInterval : 0;
    final = await poll(ctx, first);
  }
  if (final.status === "failed") {
    throw new SubmissionError("failed", final.error || "grading failed", {
      detail: final.error ?? null, job: final,
    });
  }
  return { result: final.result, jobId: final.jobId, transport: via };
}
