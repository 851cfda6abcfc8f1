// The student page: load a paper, answer it, submit, watch queued → processing → result.
// Every call about a submission goes through smartpapers-client.js's submitAndWait
// (docs/demo-page.md). The current state is #status[data-state] (tests wait on it).
import { SubmissionError, submitAndWait } from "./smartpapers-client.js";

const params = new URLSearchParams(window.location.search);
const TRANSPORT = ["auto", "sse", "poll"].includes(params.get("transport"))
  ? params.get("transport") : "auto";
const TOKEN_KEY = "smartpapers.demo.token";
const $ = (id) => document.getElementById(id);
let paper = null;
let sheetKey = null; // one Idempotency-Key per answer sheet: a retry cannot grade it twice
let countdown = null;

const PROGRESS = {
  submitting: ["Submitting…", "Sending your answers."],
  queued: ["Queued", "Your answers are safe; waiting for a grader."],
  processing: ["Grading…", "A grader is marking your answers."],
};
const TITLES = {
  not_found: "Not found",
  invalid: "Not accepted",
  rate_limited: "Too many requests",
  unavailable: "Service busy",
  unauthorized: "Sign-in needed",
  network: "Cannot reach the service",
  failed: "Grading failed",
  http: "Unexpected answer",
};
const TRANSPORTS = {
  sse: "Result pushed by the server (Server-Sent Events).",
  poll: "Result polled (every 2 s, or as Retry-After said).",
  sync: "Graded in the request (201: synchronous mode).",
};

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts only
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function show(state, tone, title, text, details = []) {
  const box = $("status");
  box.dataset.state = state;
  box.dataset.tone = tone;
  $("status-title").textContent = title;
  $("status-text").textContent = text;
  $("details").replaceChildren(...details.map((d) => {
    const li = document.createElement("li");
    li.textContent = d;
    return li;
  }));
}

function steps(status) {
  const order = ["queued", "processing", "completed"];
  const at = order.indexOf(status);
  $("steps").hidden = at < 0 && status !== "submitting";
  for (const li of $("steps").children) {
    const i = order.indexOf(li.dataset.step);
    li.classList.toggle("done", i < at || (status === "completed" && i === at));
    li.classList.toggle("current", i === at && status !== "completed");
  }
}

/** "studentId: String should match pattern …" for each of a 422's details. */
function describe(detail) {
  if (!Array.isArray(detail)) return typeof detail === "string" && detail ? [detail] : [];
  return detail.map((d) => {
    const loc = (d.loc ?? []).filter((p, i) => !(i === 0 && p === "body"));
    const where = loc.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");
    return `${where.replace(/^\./, "") || "request"}: ${d.msg ?? d.type ?? "invalid"}`;
  });
}

function stopCountdown() {
  clearInterval(countdown);
  countdown = null;
}

function waitToRetry(seconds) {
  stopCountdown();
  const until = Date.now() + seconds * 1000;
  const at = new Date(until).toLocaleTimeString();
  $("submit").disabled = true;
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left > 0) {
      $("transport").textContent = `Try again in ${left} s (at ${at}).`;
      return;
    }
    stopCountdown();
    $("transport").textContent = "You can try again now.";
    $("submit").disabled = false;
  };
  tick();
  countdown = setInterval(tick, 1000);
}

function showError(e, what) {
  steps("none");
  if (!(e instanceof SubmissionError)) {
    show("http", "error", TITLES.http, `${what}: ${e.message}`);
    return;
  }
  const text = {
    not_found: `${what}: ${e.message}.`,
    invalid: `${what}: ${e.message}. Fix the fields below and submit again.`,
    rate_limited: `${what}: too many requests (${e.message}).`,
    unavailable: `${what}: the service is busy or starting (${e.message}).`,
    unauthorized: `${what}: ${e.message}. Paste a valid bearer token above.`,
    network: `${what}: the API did not answer. Check the connection and try again.`,
    failed: `${what}: the grader gave up on this submission.`,
  }[e.kind] ?? `${what}: ${e.message} (HTTP ${e.status}).`;
  show(e.kind, "error", TITLES[e.kind] ?? TITLES.http, text, describe(e.detail));
  if ((e.kind === "rate_limited" || e.kind === "unavailable") && what === "Submission") {
    waitToRetry(e.retryAfter ?? 2);
  } else if (e.retryAfter) {
    $("transport").textContent = `Try again in ${e.retryAfter} s.`;
  }
}

function token() {
  return $("token").value.trim();
}

async function loadPaper(event) {
  event?.preventDefault();
  stopCountdown();
  $("quiz").hidden = true;
  $("result").hidden = true;
  $("transport").textContent = "";
  steps("none");
  const id = $("paper-id").value.trim();
  show("loading", "progress", "Loading…", `Loading paper “${id}”.`);
  let response;
  try {
    response = await fetch(`/api/papers/${encodeURIComponent(id)}`, {
      headers: token() ? { Authorization: `Bearer ${token()}` } : {},
    });
  } catch (e) {
    showError(new SubmissionError("network", e.message), "Loading the paper");
    return;
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const kind = { 401: "unauthorized", 403: "unauthorized", 404: "not_found", 429:
      "rate_limited" }[response.status] ?? (response.status >= 500 ? "unavailable" : "invalid");
    const retry = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    const message = response.status === 404 ? `no paper “${id}” (check the id)`
      : body.message ?? `HTTP ${response.status}`;
    showError(new SubmissionError(kind, message, {
      status: response.status, detail: body.details, code: body.error,
      retryAfter: Number.isFinite(retry) ? Math.min(60, Math.max(1, retry)) : null,
    }), "Loading the paper");
    return;
  }
  paper = await response.json();
  sheetKey = uuid();
  $("paper-title").textContent = paper.title;
  $("paper-meta").textContent = `${paper.paperId} · ${paper.questions.length} questions · `
    + `${paper.totalMarks} marks · ${paper.instituteId}`;
  $("questions").replaceChildren(...paper.questions.map((q) => {
    const li = document.createElement("li");
    const label = document.createElement("label");
    const qid = document.createElement("span");
    qid.className = "qid";
    qid.textContent = q.questionId;
    const input = document.createElement("input");
    input.dataset.questionId = q.questionId;
    input.maxLength = 2000;
    input.title = `${q.questionId} (${q.marks} mark${q.marks === 1 ? "" : "s"})`;
    label.append(qid, input);
    li.append(label);
    return li;
  }));
  $("quiz").hidden = false;
  $("submit").disabled = false;
  show("ready", "info", "Ready", "Answer the questions (blank = unanswered) and submit.");
}

async function submit(event) {
  event.preventDefault();
  stopCountdown();
  $("submit").disabled = true;
  $("result").hidden = true;
  $("transport").textContent = "";
  const answers = [...document.querySelectorAll("#questions input")].map((input) => ({
    questionId: input.dataset.questionId,
    answer: input.value.trim() === "" ? null : input.value.trim(),
  }));
  const started = performance.now();
  show("submitting", "progress", ...PROGRESS.submitting);
  steps("submitting");
  try {
    const { result, transport } = await submitAndWait({
      submission: {
        studentId: $("student-id").value.trim(),
        paperId: paper.paperId,
        instituteId: paper.instituteId,
        answers,
      },
      token: token() || undefined,
      idempotencyKey: sheetKey,
      transport: TRANSPORT,
      onStatus: (job, info) => {
        steps(job.status);
        $("status").dataset.transport = info.transport;
        if (PROGRESS[job.status]) show(job.status, "progress", ...PROGRESS[job.status]);
      },
      onRetry: ({ error, delaySeconds }) => {
        $("transport").textContent = `${TITLES[error.kind] ?? "Error"} while waiting; `
          + `asking again in ${delaySeconds} s.`;
      },
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    $("score").textContent = result.score;
    $("total").textContent = result.total;
    $("result").hidden = false;
    steps("completed");
    $("status").dataset.transport = transport;
    show("completed", "done", "Graded", `Your score, ${seconds} s after submitting:`);
    $("transport").textContent = TRANSPORTS[transport];
    sheetKey = uuid(); // submitting again is a new submission
    $("submit").disabled = false;
  } catch (e) {
    showError(e, "Submission");
    if (!countdown) $("submit").disabled = false;
  }
}

$("paper-id").value = params.get("paper") ?? "demo-paper";
$("student-id").value = params.get("student") ?? `student-${Math.floor(Math.random() * 1e6)}`;
$("token").value = sessionStorage.getItem(TOKEN_KEY) ?? "";
$("token").addEventListener("input", () => {
  if (token()) sessionStorage.setItem(TOKEN_KEY, token());
  else sessionStorage.removeItem(TOKEN_KEY);
});
// a changed sheet is a new submission (a new Idempotency-Key)
$("quiz").addEventListener("input", () => { sheetKey = uuid(); });
$("student-id").addEventListener("input", () => { sheetKey = uuid(); });
$("pick").addEventListener("submit", loadPaper);
$("quiz").addEventListener("submit", submit);
document.body.dataset.ready = "true";
loadPaper();
