// The jobs panel: the list, a job's row and actions, Run now's chip, Delete, and a job's page.

import { alertControls } from "./alerts.js";
import { api, describe } from "./api.js";
import { act, problem } from "./banner.js";
import { $, badge, duration, el, query, show, when } from "./dom.js";
import { openForm } from "./jobform.js";
import { refresh } from "./main.js";
import { requestRow, requestStatus, watching } from "./requests.js";
import { runRow } from "./runs.js";
import { PAGE_SIZE, state } from "./state.js";
import { runOnWorker, workerLines } from "./workers.js";

export async function loadJobs() {
  const params = { project: $("project").value, q: $("search").value.trim(), filter: $("filter").value, limit: PAGE_SIZE };
  const stateLine = $("jobs-state");
  try {
    const data = await api("GET", `/jobs${query(params)}`);
    problem("jobs", null);
    renderProjects(data.projects || []);
    renderJobs(data.jobs || [], data.has_more, params);
  } catch (error) {
    if (!state.signedIn) return;
    problem("jobs", describe(error, "Jobs"), error.status);
    stateLine.textContent = "Jobs cannot be shown right now (see the banner above).";
    stateLine.dataset.state = "error";
    show(stateLine, true);
  }
}

function renderProjects(projects) {
  const select = $("project");
  const names = projects.length ? projects : ["default"];
  if (!names.includes(select.value)) names.push(select.value);
  const key = names.join("\n");
  if (key === state.projectsSeen) return;
  state.projectsSeen = key;
  const current = select.value;
  select.replaceChildren(...names.map((name) => el("option", { value: name, text: name })));
  select.value = current;
}

function renderJobs(jobs, hasMore, params) {
  const stateLine = $("jobs-state");
  const filtered = params.q || params.filter !== "all";
  if (!jobs.length) {
    stateLine.textContent = filtered
      ? "No job matches this search or filter: clear the search box or choose \"all\"."
      : "No jobs yet: create one with the New job button above, or `python3 dev.py cli jobs add ...`.";
    stateLine.dataset.state = "empty";
  } else {
    stateLine.textContent = hasMore ? `Showing the first ${jobs.length} jobs; search to narrow the list.` : "";
    stateLine.dataset.state = "ok";
  }
  show(stateLine, Boolean(stateLine.textContent));
  // The list holds still while a job is edited in it: the form sits under its row, and a
  // re-render would take the form (and the focus in it) along.
  const editingInList = !$("job-form-panel").hidden && (state.formNear || "").startsWith("row:");
  if (!editingInList) $("jobs-list").replaceChildren(...jobs.map(jobRow));
  // The runs filter takes a job's exact name: offer the names on show.
  $("job-names").replaceChildren(...jobs.map((job) => el("option", { value: job.name })));
}

function jobActions(job) {
  return el("div", { class: "actions" },
    // A paused job refuses run requests (they would only be held): resume it first.
    el("button", {
      type: "button", "data-testid": "run-now", disabled: !job.enabled, title: job.enabled ? null : "Paused: resume it to run it",
      on: { click: () => (job.worker ? runOnWorker(job) : runNow(job)) },
    }, "Run now"),
    job.enabled
      ? el("button", { type: "button", class: "secondary", "data-testid": "pause", on: { click: () => act(`/jobs/${job.id}/pause`, "POST", {}, "Pause") } }, "Pause")
      : el("button", { type: "button", class: "secondary", "data-testid": "resume", on: { click: () => act(`/jobs/${job.id}/resume`, "POST", {}, "Resume") } }, "Resume"),
    job.editable ? el("button", { type: "button", class: "secondary", "data-testid": "edit", on: { click: (event) => openForm(job, event.target.closest("article, #detail-actions")) } }, "Edit") : null,
    job.editable ? deleteButton(job) : null);
}

function jobRow(job) {
  const last = job.last_run_at
    ? el("span", {}, badge(job.last_status), ` ${when(job.last_run_at)} `, el("span", { class: "muted" }, duration(job.last_duration_ms)))
    : el("span", { class: "muted" }, "never");
  return el("article", { class: `row${job.enabled ? "" : " paused"}`, "data-testid": "job-row", "data-name": job.name, "data-id": job.id, "data-enabled": String(job.enabled) },
    el("div", { class: "row-head" },
      el("a", { href: `#job=${encodeURIComponent(job.id)}`, class: "name", "data-testid": "job-link" }, job.name),
      el("span", { class: `pill ${job.enabled ? "pill-on" : "pill-off"}`, "data-testid": "enabled" }, job.enabled ? "enabled" : "paused"),
      el("span", { class: "muted" }, `${job.project_id} · ${job.kind}`)),
    job.target && job.target !== job.name ? el("div", { class: "target", title: job.target }, job.target) : null,
    el("div", {}, el("span", { class: "label" }, "Schedule "), job.schedule_text || job.schedule || job.schedule_type),
    job.schedule_error ? el("div", { class: "error" }, `Schedule problem: ${job.schedule_error}`) : null,
    el("div", {}, el("span", { class: "label" }, "Next run "), when(job.next_run_at)),
    el("div", {}, el("span", { class: "label" }, "Last run "), last),
    job.worker ? workerLines(job) : null,
    runNowLine(job.id),
    jobActions(job));
}

// -- Run now: the request's state on the job row itself --------------------------------------
// The API runs the request in the call (Run now runs now) and answers with it settled, so the
// row shows "running" while the call is out, then how it ended, with no reload.

const RUN_NOW_SHOWN_MS = 60000;

function runNowLine(jobId) {
  const entry = state.runNow[jobId];
  if (!entry) return null;
  return el("div", { class: "run-now", "data-testid": "run-now-state" },
    el("span", { class: `chip chip-${entry.status}`, "data-testid": "run-chip", "data-status": entry.status }, entry.status),
    entry.text ? el("span", { class: entry.status === "error" ? "error" : "muted" }, ` ${entry.text}`) : null);
}

function showRunNow(job, entry) {
  state.runNow[job.id] = entry;
  for (const row of document.querySelectorAll('[data-testid="job-row"]')) {
    if (row.dataset.id !== job.id) continue;
    const old = row.querySelector('[data-testid="run-now-state"]');
    const line = runNowLine(job.id);
    if (old) old.replaceWith(line);
    else row.insertBefore(line, row.querySelector(".actions"));
  }
  if (state.detailId === job.id) $("detail-actions").replaceChildren(...detailActions(job));
}

function detailActions(job) {
  return [runNowLine(job.id), jobActions(job)].filter(Boolean);
}

async function runNow(job) {
  showRunNow(job, { status: "running", text: "" });
  let entry;
  try {
    const answer = await api("POST", `/jobs/${job.id}/run`, {});
    const request = answer.request || {};
    const status = requestStatus(request);
    const result = request.result && typeof request.result === "object" ? request.result : {};
    const text = answer.waiting ? answer.waiting
      : status === "error" ? result.error || "failed"
      : status === "done" ? `${result.status_code ? `HTTP ${result.status_code}` : result.status ? `run ${result.status}` : "done"}${result.duration_ms === undefined ? "" : ` in ${duration(result.duration_ms)}`}`
      : status === "queued" && result.error ? `attempt failed (${result.error}); retried ${when(request.available_at)}` : "";
    entry = { status, text };
    problem("action", null);
  } catch (error) {
    entry = { status: "error", text: describe(error, "Run now") };
  }
  showRunNow(job, entry);
  setTimeout(() => { if (state.runNow[job.id] === entry) { delete state.runNow[job.id]; refresh(); } }, RUN_NOW_SHOWN_MS);
  refresh();
}

function deleteButton(job) {
  const armed = state.armedDelete === job.id;
  return el("button", {
    type: "button", class: armed ? "danger" : "secondary", "data-testid": armed ? "confirm-delete" : "delete",
    on: {
      click: () => {
        if (!armed) { state.armedDelete = job.id; setTimeout(() => { state.armedDelete = null; }, 5000); refresh(); return; }
        state.armedDelete = null;
        act(`/jobs/${job.id}`, "DELETE", {}, "Delete").then((deleted) => {
          if (deleted && state.detailId === job.id) location.hash = "";
        });
      },
    },
  }, armed ? "Really delete?" : "Delete");
}

// -- a job's page ---------------------------------------------------------------------------

export function openFromHash() {
  const match = /^#job=(.+)$/.exec(location.hash);
  state.detailId = match ? decodeURIComponent(match[1]) : null;
  state.busyDetail = false;
  show($("job-detail"), Boolean(state.detailId));
  show($("jobs-panel"), !state.detailId);
  if (state.detailId) {
    // Opening a job shows it where the operator is looking, however far down the page was scrolled.
    $("job-detail").scrollIntoView({ block: "start" });
    $("detail-title").textContent = "Job";
    $("detail-facts").replaceChildren();
    $("detail-actions").replaceChildren();
    $("detail-next").replaceChildren();
    $("detail-requests").replaceChildren();
    $("detail-runs").replaceChildren();
    if (state.signedIn) loadDetail();
  }
}

export async function loadDetail() {
  const id = state.detailId;
  const stateLine = $("detail-state");
  try {
    const data = await api("GET", `/jobs/${encodeURIComponent(id)}`);
    if (id !== state.detailId) return;
    problem("detail", null);
    show(stateLine, false);
    const job = data.job;
    $("detail-title").textContent = job.name;
    const fact = (term, value) => [el("dt", {}, term), el("dd", {}, value)];
    $("detail-facts").replaceChildren(
      ...fact("Project", job.project_id), ...fact("Kind", job.kind), ...fact("Target", job.target || "—"),
      ...fact("Schedule", job.schedule_text || job.schedule || job.schedule_type), ...fact("Enabled", job.enabled ? "yes" : "no (paused)"),
      ...(job.schedule_error ? fact("Schedule problem", el("span", { class: "error" }, job.schedule_error)) : []),
      ...fact("Next run", when(job.next_run_at)),
      ...fact("Alerts", alertControls(job)),
      ...fact("Last run", job.last_run_at ? [badge(job.last_status), ` ${when(job.last_run_at)} ${duration(job.last_duration_ms)}`] : "never"));
    $("detail-actions").replaceChildren(...detailActions(job));
    const next = data.next_runs || [];
    $("detail-next").replaceChildren(...(next.length ? next.map((ts) => el("li", {}, when(ts))) : [el("li", { class: "muted" }, "No upcoming run (manual, paused or finished).")]));
    const requests = data.requests || [];
    state.busyDetail = watching(requests);
    state.busy = state.busy || state.busyDetail;
    $("detail-requests").replaceChildren(...(requests.length ? requests.map(requestRow) : [el("p", { class: "state" }, "No run requests for this job yet.")]));
    const runs = data.runs || [];
    const noRuns = job.kind === "webhook" ? "A webhook job's runs are its run requests, above." : "No runs recorded for this job yet.";
    $("detail-runs").replaceChildren(...(runs.length ? runs.map(runRow) : [el("p", { class: "state" }, noRuns)]));
  } catch (error) {
    if (!state.signedIn || id !== state.detailId) return;
    stateLine.textContent = error.status === 404 && error.body && error.body.error && error.body.error !== "not found"
      ? "This job does not exist (any more)." : describe(error, "Job");
    show(stateLine, true);
  }
}
