// Run requests: their chips and attempts, retry and cancel, one by one or in bulk.

import { api, describe } from "./api.js";
import { act, problem } from "./banner.js";
import { $, duration, el, query, show, when } from "./dom.js";
import { refresh } from "./main.js";
import { PAGE_SIZE, state } from "./state.js";

// A request queued this recently (or running) is watched: its panels refresh every second.
const BUSY_WINDOW_MS = 120000;

export function watching(requests) {
  const now = Date.now();
  return requests.some((request) => request.status === "running" ||
    (request.status === "queued" && !request.held && now - Date.parse(request.requested_at) < BUSY_WINDOW_MS));
}

export function requestStatus(request) {
  return request.status === "queued" && request.held ? "held" : request.status;
}

function requestSummary(request, status) {
  // One line; the whole result is one click away on the chip.
  const result = request.result && typeof request.result === "object" ? request.result : {};
  const took = result.duration_ms === undefined ? "" : ` in ${duration(result.duration_ms)}`;
  if (status === "held") {
    return el("div", { class: "muted" }, request.held_reason
      ? `Held: ${request.held_reason}; it runs once that is set (no attempt is spent).`
      : "Held: its job is paused; it runs after Resume.");
  }
  if (status === "error") return el("div", { class: "error", "data-testid": "request-error" }, result.error || "failed");
  if (status === "done") {
    const what = result.status_code ? `HTTP ${result.status_code}` : result.status ? `run ${result.status}` : "done";
    return el("div", { class: "muted" }, `${what}${took}`);
  }
  if (status === "queued" && result.error) {
    return el("div", { class: "muted" }, `Attempt ${request.attempts} failed (${result.error}); next try ${when(request.available_at)}`);
  }
  return null;
}

export function requestRow(request) {
  const status = requestStatus(request);
  const open = state.openResult === request.id;
  return el("article", { class: "row", "data-testid": "request-row", "data-id": request.id, "data-job": request.job_name },
    el("div", { class: "row-head" },
      el("button", {
        type: "button", class: `chip chip-${status}`, "data-testid": "request-chip", "data-status": status,
        "aria-expanded": String(open), title: "show the full result",
        on: { click: () => toggleRequest(request, open) },
      }, status),
      el("span", { class: "name" }, request.job_name),
      el("span", { class: "muted" }, `${request.requested_by ? `by ${request.requested_by} · ` : ""}attempt ${request.attempts}/${request.max_attempts}`)),
    el("div", {}, el("span", { class: "label" }, "Requested "), when(request.requested_at)),
    request.completed_at ? el("div", {}, el("span", { class: "label" }, "Finished "), when(request.completed_at)) : null,
    requestSummary(request, status),
    request.retry_of ? el("div", { class: "muted" }, `retry of ${request.retry_of}`) : null,
    request.retried_by ? el("div", { class: "muted", "data-testid": "retried-by" }, `retried by ${request.retried_by}`) : null,
    open ? el("pre", { class: "result", "data-testid": "request-result" }, resultText(request, status)) : null,
    open ? attemptList(request.id) : null,
    // A request is retried once: the retry is where to look next (and a second click cannot queue a duplicate).
    request.status === "error" && !request.retried_by
      ? el("div", { class: "actions" },
        el("button", { type: "button", "data-testid": "retry", on: { click: () => act(`/requests/${request.id}/retry`, "POST", {}, "Retry") } }, "Retry"))
      : null,
    request.status === "queued"
      ? el("div", { class: "actions" },
        el("button", { type: "button", class: "secondary", "data-testid": "cancel-request", on: { click: () => act(`/requests/${request.id}/cancel`, "POST", {}, "Cancel") } }, "Cancel"))
      : null);
}

// What an unfolded chip shows: the result, or what the request is waiting for (never `null`).
function resultText(request, status) {
  if (request.result !== null && request.result !== undefined) return JSON.stringify(request.result, null, 2);
  if (status === "held") return "No result yet: held while its job is paused; it runs after Resume.";
  if (status === "queued") return `No result yet: queued, due ${when(request.available_at)}.`;
  if (status === "running") return `No result yet: running since ${when(request.picked_up_at)}.`;
  return "No result was recorded.";
}

function toggleRequest(request, open) {
  state.openResult = open ? null : request.id;
  if (!open) {
    api("GET", `/requests/${request.id}`).then((data) => { state.attempts[request.id] = data.attempts || []; refresh(); },
      () => { state.attempts[request.id] = null; });
  }
  refresh();
}

function attemptList(id) {
  const attempts = state.attempts[id];
  if (!attempts || !attempts.length) return null;
  return el("ol", { class: "plain attempts", "data-testid": "attempts" }, ...attempts.map((a) =>
    el("li", { "data-testid": "attempt" }, `#${a.attempt} ${a.outcome} ${when(a.finished_at)} `,
      el("span", { class: "muted" }, [a.status_code ? `HTTP ${a.status_code}` : "", duration(a.duration_ms)].filter(Boolean).join(" · ")),
      a.error ? el("div", { class: "error" }, a.error) : null,
      a.body ? el("pre", { class: "result" }, a.body) : null)));
}

// Retry every failed request, or cancel every queued one, of the project: counted first, then confirmed.
export async function bulk(action) {
  const filter = { project: $("project").value || null };
  try {
    if (state.bulk && state.bulk.action === action) {
      const done = await api("POST", `/requests/${action}`, { ...filter, dry_run: false });
      state.bulk = null;
      $("bulk-state").textContent = `${action === "retry" ? "Retried" : "Cancelled"} ${done.done} request${done.done === 1 ? "" : "s"}` +
        (done.has_more ? "; more match: press again for the next batch." : ".");
    } else {
      const counted = await api("POST", `/requests/${action}`, { ...filter, dry_run: true });
      state.bulk = counted.matched ? { action, matched: counted.matched } : null;
      $("bulk-state").textContent = counted.matched
        ? `${counted.matched} request${counted.matched === 1 ? "" : "s"} would be ${action === "retry" ? "retried" : "cancelled"}: press again to confirm.`
        : `No request to ${action}.`;
    }
    problem("action", null);
  } catch (error) {
    state.bulk = null;
    $("bulk-state").textContent = describe(error, action === "retry" ? "Retry failed" : "Cancel queued");
  }
  show($("bulk-state"), true);
  refresh();
}

export async function loadRequests() {
  const stateLine = $("requests-state");
  try {
    const data = await api("GET", `/requests${query({ project: $("project").value, limit: PAGE_SIZE })}`);
    problem("requests", null);
    const requests = data.requests || [];
    state.busy = watching(requests) || state.busyDetail;
    stateLine.textContent = requests.length ? "" : "No run requests yet: press Run now on a job to queue one.";
    stateLine.dataset.state = requests.length ? "ok" : "empty";
    show(stateLine, !requests.length);
    $("requests-list").replaceChildren(...requests.map(requestRow));
  } catch (error) {
    if (!state.signedIn) return;
    problem("requests", describe(error, "Run requests"), error.status);
    stateLine.textContent = "Run requests cannot be shown right now (see the banner above).";
    stateLine.dataset.state = "error";
    show(stateLine, true);
  }
}
