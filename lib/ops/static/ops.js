// The cronrelay console. Plain DOM, no build step, no outside requests: it
// talks only to the JSON API under /api/ops (see docs/console.md). Values from
// the API are written with textContent, never as HTML.
"use strict";

(function () {
  const API = "/api/ops";
  const POLL_MS = 4000;
  // While a request the operator is watching is queued or running, its panel refreshes every second.
  const BUSY_POLL_MS = 1000;
  const BUSY_WINDOW_MS = 120000;
  const PAGE_SIZE = 50;

  const $ = (id) => document.getElementById(id);
  const state = {
    signedIn: false,
    timer: null,
    lastFull: 0,
    busy: false,         // a recent request is queued or running (see watching)
    busyDetail: false,
    inFlight: false,
    again: false,
    problems: {},        // panel name -> one line shown in the banner
    editing: null,       // the job being edited, or null for a new one
    openResult: null,    // request id whose result is unfolded
    armedDelete: null,   // job id whose Delete was clicked once
    detailId: null,
    projectsSeen: "",
    session: null,       // GET /session's answer: who is signed in (role), or which sign-in form to show
    formNear: null,      // the element the job form opened next to (the Edit's row, the New job button)
    attempts: {},        // request id -> its attempts, loaded when its chip is unfolded
    bulk: null,          // a counted bulk action waiting for its confirmation: { action, matched }
    runNow: {},          // job id -> {status, text}: Run now's request, shown on the job row
  };

  // -- small helpers -------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function show(node, visible) { node.hidden = !visible; }

  function pad(n) { return String(n).padStart(2, "0"); }

  function when(iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    const text = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
      `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} UTC`;
    return `${text} (${relative(date)})`;
  }

  function relative(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    const amount = abs < 60 ? `${abs}s` : abs < 3600 ? `${Math.round(abs / 60)}m` :
      abs < 86400 ? `${Math.round(abs / 3600)}h` : `${Math.round(abs / 86400)}d`;
    if (abs < 2) return "just now";
    return seconds >= 0 ? `in ${amount}` : `${amount} ago`;
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "";
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    return `${Math.floor(ms / 60000)}m ${Math.round((ms % 60000) / 1000)}s`;
  }

  function badge(status) {
    return el("span", { class: `badge badge-${status || "none"}`, "data-testid": "status-badge", "data-status": status || "" },
      status || "never run");
  }

  function sentence(line) {
    const text = String(line);
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== "" && value !== null && value !== undefined) search.set(key, value);
    const text = search.toString();
    return text ? `?${text}` : "";
  }

  // -- the API -------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body, path) {
      super((body && body.error) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
      this.path = path;
    }
  }

  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      // The write guard: a cookie-carried write needs this header (and the Origin fetch sends).
      init.headers["X-Cronrelay-Request"] = "1";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch (error) {
      throw new ApiError(0, { error: "cannot reach the server" }, path);
    }
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    if (!response.ok) {
      if (response.status === 401 && path !== "/login") signedOut();
      throw new ApiError(response.status, data, path);
    }
    return data;
  }

  function describe(error, what) {
    if (error.status === 404 && !(error.body && error.body.error && error.body.error !== "not found")) {
      return `${what}: this server has no ${API}${error.path.split("?")[0]} endpoint (404). ` +
        "The console's data API is not deployed here yet.";
    }
    if (error.status === 0) return `${what}: cannot reach the server; retrying every few seconds.`;
    return `${what}: ${error.message} (HTTP ${error.status})`;
  }

  // -- banner ----------------------------------------------------------------------

  // panel -> one line, or several for the status panel. A panel's 503 (the database is down, a
  // setting is missing) says what /status already says, so while /status reports it, it is not repeated.
  function problem(panel, text, status) {
    if (text && text.length) state.problems[panel] = { text, status }; else delete state.problems[panel];
    renderBanner();
  }

  function renderBanner() {
    const banner = $("banner");
    const statusKnown = Boolean(state.problems.status);
    const lines = [...new Set(Object.entries(state.problems)
      .filter(([panel, entry]) => panel === "status" || !(statusKnown && entry.status === 503))
      .flatMap(([, entry]) => entry.text))];
    banner.replaceChildren(...lines.map((line) => el("p", { text: line })));
    show(banner, lines.length > 0);
  }

  // -- sign-in -----------------------------------------------------------------------

  function signedOut() {
    state.signedIn = false;
    stopPolling();
    show($("console"), false);
    show($("sign-out"), false);
    show($("signin"), true);
    $("last-refreshed").textContent = "";
    state.problems = {};
    renderBanner();
    signedOutPeople();
  }

  function signedIn() {
    state.signedIn = true;
    signedInPeople();
    show($("signin"), false);
    show($("signin-error"), false);
    show($("console"), true);
    show($("sign-out"), true);
    openFromHash();
    refresh();
    startPolling();
  }

  async function start() {
    bind();
    try {
      const session = await api("GET", "/session");
      state.session = session;
      show($("loading"), false);
      if (session && session.signed_in) signedIn(); else signedOut();
    } catch (error) {
      show($("loading"), false);
      signedOut();
      problem("session", describe(error, "Sign-in is unavailable"));
    }
  }

  async function submitSignin(event) {
    event.preventDefault();
    const byName = !$("signin-user-fields").hidden && $("user").value.trim() !== "";
    const input = byName ? $("password") : $("secret");
    const message = $("signin-error");
    show(message, false);
    try {
      const body = byName ? { user: $("user").value.trim(), password: input.value } : { secret: input.value };
      state.session = await api("POST", "/login", body);
      input.value = "";
      problem("session", null);
      show($("signin-notice"), false);
      state.session = await api("GET", "/session");
      signedIn();
    } catch (error) {
      message.textContent = signinRefusal(error, byName);
      show(message, true);
      input.select();
    }
  }

  async function signOut() {
    try { await api("POST", "/logout"); } catch (error) { /* the cookie is gone or was never there */ }
    signedOut();
  }

  // -- polling -----------------------------------------------------------------------

  function startPolling() {
    stopPolling();
    state.timer = setInterval(tick, BUSY_POLL_MS);
  }

  function tick() {
    if (document.hidden || !state.signedIn) return;
    if (Date.now() - state.lastFull >= POLL_MS) refresh();
    else if (state.busy && !state.inFlight) refreshBusy();
  }

  async function refreshBusy() {
    // Only the panels that show run requests; when nothing is in flight any more, everything.
    state.inFlight = true;
    try {
      await Promise.all([loadRequests(), state.detailId ? loadDetail() : null]);
    } finally {
      state.inFlight = false;
    }
    if (!state.busy || state.again) refresh();
  }

  function watching(requests) {
    const now = Date.now();
    return requests.some((request) => request.status === "running" ||
      (request.status === "queued" && !request.held && now - Date.parse(request.requested_at) < BUSY_WINDOW_MS));
  }

  function stopPolling() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }

  async function refresh() {
    if (!state.signedIn) return;
    // A refresh asked for during another (after an action) runs right after it.
    if (state.inFlight) { state.again = true; return; }
    state.inFlight = true;
    state.again = false;
    state.lastFull = Date.now();
    try {
      // One request per panel, in parallel.
      // A job's page hides the jobs list, so it asks for that job instead.
      await Promise.all([loadStatus(), loadWorkers(), state.detailId ? loadDetail() : loadJobs(), loadRequests(), loadRuns(), loadAlerts(), loadAdmin()]);
      const now = new Date();
      if (state.signedIn) {
        $("last-refreshed").textContent = `last refreshed ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
      }
    } finally {
      state.inFlight = false;
    }
    if (state.again) refresh();
  }

  // -- status ------------------------------------------------------------------------

  async function loadStatus() {
    try {
      const status = await api("GET", "/status");
      const lines = (status.problems || []).map(sentence);
      if (status.database && status.database !== "ok" && !lines.length) lines.push(`The database is ${status.database}.`);
      problem("status", lines);
    } catch (error) {
      if (state.signedIn) problem("status", describe(error, "Status"), error.status);
    }
  }

  // -- jobs ----------------------------------------------------------------------------

  async function loadJobs() {
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

  // -- workers (machines outside the cloud: lib/workers) -----------------------------------

  // A worker not seen for this long is shown offline, and Run now on its jobs warns.
  const WORKER_QUIET_MS = 2 * 60 * 1000;

  function workerQuiet(lastSeen) {
    return !lastSeen || Date.now() - new Date(lastSeen).getTime() > WORKER_QUIET_MS;
  }

  async function loadWorkers() {
    try {
      const data = await api("GET", "/workers");
      const workers = data.workers || [];
      show($("workers-panel"), workers.length > 0);
      $("workers-list").replaceChildren(...workers.map(workerRow));
    } catch (error) {
      // The status banner reports an unreachable database; the panel just stays as it was.
    }
  }

  function workerRow(worker) {
    const online = !worker.disabled_at && !workerQuiet(worker.last_seen_at);
    const label = worker.disabled_at ? "revoked" : online ? "online" : "offline";
    return el("article", { class: "row", "data-testid": "worker-row", "data-name": worker.name, "data-state": label },
      el("div", { class: "row-head" },
        el("span", { class: "name" }, worker.name),
        el("span", { class: `pill ${online ? "pill-on" : "pill-off"}`, "data-testid": "worker-state" }, label),
        el("span", { class: "muted" }, `${worker.project_id} · ${worker.jobs} job${worker.jobs === 1 ? "" : "s"}`)),
      el("div", {}, el("span", { class: "label" }, "Last seen "), worker.last_seen_at ? when(worker.last_seen_at) : "never"));
  }

  function workerLines(job) {
    const worker = job.worker;
    const notice = (state.workerNotices || {})[job.id];
    return el("div", { class: "worker", "data-testid": "worker-of-job" },
      el("div", {}, el("span", { class: "label" }, "Worker "), worker.name || "?",
        worker.removed_at ? el("span", { class: "error" }, " (no longer listed by the worker)") : null),
      el("div", {}, el("span", { class: "label" }, "Its schedule "), worker.schedule_text),
      worker.instructions ? el("div", { class: "muted" }, worker.instructions) : null,
      notice ? el("div", { "data-testid": "worker-run-notice", class: notice.warn ? "error" : "muted" }, notice.text) : null);
  }

  async function runOnWorker(job) {
    const name = job.worker.name || "the worker";
    const done = await act(`/jobs/${job.id}/run`, "POST", {}, "Run now");
    if (!done) return;
    let text = `queued: runs when ${name} picks it up`;
    const quiet = workerQuiet(job.worker.last_seen_at);
    if (quiet) {
      const seen = job.worker.last_seen_at ? `since ${when(job.worker.last_seen_at)}` : "ever";
      text += ` — warning: ${name} has not been seen ${seen}; it may be offline`;
    }
    state.workerNotices = { ...(state.workerNotices || {}), [job.id]: { text, warn: quiet } };
    refresh();
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

  async function act(path, method, body, what) {
    let done = false;
    try {
      await api(method, path, body);
      problem("action", null);
      done = true;
    } catch (error) {
      problem("action", describe(error, what));
      // A failed action's line goes after a while; a lasting problem is the status panel's to show.
      const shown = state.problems.action;
      setTimeout(() => { if (state.problems.action === shown) problem("action", null); }, 15000);
    }
    refresh();
    return done;
  }

  // -- the job form ----------------------------------------------------------------------

  const FIELDS = ["project_id", "name", "kind", "target", "schedule_type", "schedule", "timezone", "payload", "enabled",
    "alerts_enabled", "alert_after_failures", "realert_after", "overdue_grace"];

  // Alert durations come in seconds; the form shows them as the API also takes them (90s, 30m, 4h).
  function seconds(value) {
    if (value === null || value === undefined || value === "") return "";
    const n = Number(value);
    if (n % 3600 === 0 && n) return `${n / 3600}h`;
    if (n % 60 === 0 && n) return `${n / 60}m`;
    return `${n}s`;
  }

  function fieldError(name, text) {
    const node = document.querySelector(`[data-testid="field-error-${name}"]`);
    if (!node) return false;
    node.textContent = text || "";
    show(node, Boolean(text));
    const input = $(`f-${name}`);
    if (input) input.setAttribute("aria-invalid", text ? "true" : "false");
    return true;
  }

  function clearFormErrors() {
    for (const name of FIELDS) fieldError(name, null);
    delete $("job-form-error").dataset.conflict;
    show($("job-form-error"), false);
  }

  function openForm(job, near) {
    state.editing = job;
    // The form opens where it was asked for: under the job's row (or its page), or under New job.
    // `near` is the element clicked in, or where the form already is (a key of state.formNear).
    if (typeof near === "string") state.formNear = near;
    else state.formNear = near ? (near.dataset.id ? `row:${near.dataset.id}` : "detail") : "new";
    clearFormErrors();
    $("job-form-title").textContent = job ? `Edit ${job.name}` : "New job";
    $("f-project_id").value = job ? job.project_id : $("project").value || "default";
    $("f-name").value = job ? job.name : "";
    $("f-kind").value = job ? job.kind : "webhook";
    $("f-target").value = job ? job.target || "" : "";
    $("f-schedule_type").value = job ? job.schedule_type : "interval";
    $("f-schedule").value = job ? job.schedule || "" : "";
    $("f-timezone").value = job ? job.timezone : "UTC";
    $("f-payload").value = JSON.stringify(job ? job.payload || {} : {}, null, 2);
    $("f-enabled").checked = job ? job.enabled : true;
    $("f-alerts_enabled").checked = job ? job.alerts_enabled !== false : true;
    $("f-alert_after_failures").value = job && job.alert_after_failures ? job.alert_after_failures : 1;
    $("f-realert_after").value = job ? seconds(job.realert_after) : "";
    $("f-overdue_grace").value = job && job.overdue_grace !== undefined ? seconds(job.overdue_grace) || "0s" : "5m";
    show($("job-form-panel"), true);
    placeForm();
    $("job-form-panel").scrollIntoView({ block: "nearest" });
    $("f-name").focus({ preventScroll: true });
  }

  // After the row it was opened from (the list re-renders under it), the job page's actions, or New job.
  function placeForm() {
    const panel = $("job-form-panel");
    if (panel.hidden || !state.formNear) return;
    let anchor = $("jobs-panel").querySelector(".panel-head");
    if (state.formNear === "detail") anchor = $("detail-actions");
    else if (state.formNear.startsWith("row:")) {
      anchor = $("jobs-list").querySelector(`[data-testid="job-row"][data-id="${CSS.escape(state.formNear.slice(4))}"]`) || anchor;
    }
    if (anchor.nextElementSibling !== panel) anchor.after(panel);
  }

  function closeForm() {
    state.editing = null;
    state.formNear = null;
    show($("job-form-panel"), false);
    // Back where the page keeps it, so a list re-render never takes it along.
    $("jobs-panel").after($("job-form-panel"));
  }

  // The fields an edit changed, and the version it was based on: nothing else is sent, so a
  // field someone else changed meanwhile is not written back (and a stale version is a 409).
  function changedFields(job, body) {
    const changed = {};
    for (const name of FIELDS) {
      const before = name === "payload" ? JSON.stringify(job.payload ?? {}) : job[name] ?? null;
      const after = name === "payload" ? JSON.stringify(body.payload) : body[name] ?? null;
      if (before !== after) changed[name] = body[name];
    }
    return { ...changed, version: job.version };
  }

  async function submitForm(event) {
    event.preventDefault();
    clearFormErrors();
    let payload;
    try {
      payload = JSON.parse($("f-payload").value || "{}");
    } catch (error) {
      fieldError("payload", "Not valid JSON.");
      return;
    }
    const body = {
      project_id: $("f-project_id").value.trim() || "default",
      name: $("f-name").value.trim(),
      kind: $("f-kind").value,
      target: $("f-target").value.trim() || null,
      schedule_type: $("f-schedule_type").value,
      schedule: $("f-schedule").value.trim() || null,
      timezone: $("f-timezone").value.trim() || "UTC",
      payload,
      enabled: $("f-enabled").checked,
      alerts_enabled: $("f-alerts_enabled").checked,
      alert_after_failures: Number($("f-alert_after_failures").value || 1),
      realert_after: $("f-realert_after").value.trim() || null,
      overdue_grace: $("f-overdue_grace").value.trim() || "5m",
    };
    try {
      if (state.editing) await api("PATCH", `/jobs/${state.editing.id}`, changedFields(state.editing, body));
      else await api("POST", "/jobs", body);
      closeForm();
      refresh();
    } catch (error) {
      const field = error.body && error.body.field;
      if (error.status === 409 && field === "version" && error.body.job) {
        // Someone else saved first: nothing of this edit was written. Show their version.
        openForm(error.body.job, state.formNear);
        $("job-form-error").textContent = "Someone else changed this job while you were editing it; nothing was saved. " +
          "The form now shows their version: make your change again and save.";
        $("job-form-error").dataset.conflict = "true";
        show($("job-form-error"), true);
        refresh();
        return;
      }
      if (!(field && fieldError(field, error.message))) {
        $("job-form-error").textContent = describe(error, "Not saved");
        show($("job-form-error"), true);
      }
    }
  }

  // -- run requests ---------------------------------------------------------------------------

  function requestStatus(request) {
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

  function requestRow(request) {
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
  async function bulk(action) {
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

  async function loadRequests() {
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

  // -- runs ----------------------------------------------------------------------------------

  function runRow(run) {
    return el("article", { class: "row", "data-testid": "run-row", "data-job": run.job, "data-status": run.status },
      el("div", { class: "row-head" }, badge(run.status), el("span", { class: "name" }, run.job),
        el("span", { class: "muted" }, `${run.trigger}${run.dry_run ? " · dry run" : ""} · #${run.id}`)),
      el("div", {}, el("span", { class: "label" }, "Started "), when(run.started_at), " ", el("span", { class: "muted" }, duration(run.duration_ms))),
      run.error ? el("div", { class: "error" }, run.error) : null,
      run.stats && Object.keys(run.stats).length ? el("div", { class: "muted stats" }, JSON.stringify(run.stats)) : null);
  }

  async function loadRuns() {
    const stateLine = $("runs-state");
    const params = { job: $("runs-job").value.trim(), status: $("runs-status").value, limit: PAGE_SIZE };
    try {
      const data = await api("GET", `/runs${query(params)}`);
      problem("runs", null);
      const runs = data.runs || [];
      const filtered = params.job || params.status;
      stateLine.textContent = runs.length ? "" : filtered ? "No run matches this job and status." : "No runs yet: jobs record a run here each time they fire.";
      stateLine.dataset.state = runs.length ? "ok" : "empty";
      show(stateLine, !runs.length);
      $("runs-list").replaceChildren(...runs.map(runRow));
    } catch (error) {
      if (!state.signedIn) return;
      problem("runs", describe(error, "Runs"), error.status);
      stateLine.textContent = "Runs cannot be shown right now (see the banner above).";
      stateLine.dataset.state = "error";
      show(stateLine, true);
    }
  }

  // -- alerts --------------------------------------------------------------------------------

  // A job's noise control in words, as `jobs show` says it.
  function alertControls(job) {
    if (job.alerts_enabled === false) return "off (episodes are tracked and shown, nothing is sent)";
    const after = job.alert_after_failures || 1;
    const parts = [after === 1 ? "after 1 failure" : `after ${after} failures in a row`];
    if (job.realert_after) parts.push(`again every ${seconds(job.realert_after)} while still failing`);
    parts.push(`overdue grace ${seconds(job.overdue_grace) || "0s"}`);
    return parts.join(", ");
  }

  // A delivery's state as the request chips show theirs: sent green, pending yellow, dead red.
  const DELIVERY_CHIP = { sent: "done", pending: "queued", dead: "error" };

  function deliveryLine(delivery) {
    const chip = el("span", { class: `chip chip-${DELIVERY_CHIP[delivery.status] || "held"}` }, delivery.status);
    let detail = "";
    if (delivery.status === "sent") detail = ` ${when(delivery.sent_at)}`;
    else if (delivery.status === "pending") {
      detail = ` attempt ${delivery.attempts}/${delivery.max_attempts}` +
        (delivery.next_attempt_at ? `, next try ${when(delivery.next_attempt_at)}` : "");
    } else detail = ` after ${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}`;
    return el("div", { "data-testid": "delivery", "data-channel": delivery.channel, "data-status": delivery.status },
      el("span", { class: "label" }, `${delivery.channel} `), chip, detail,
      delivery.last_error && delivery.status !== "sent"
        ? el("div", { class: delivery.status === "dead" ? "error" : "muted", "data-testid": "delivery-error" }, delivery.last_error)
        : null);
  }

  function alertRow(alert) {
    const deliveries = alert.deliveries || [];
    let none = null;
    if (alert.muted) none = el("div", { class: "muted" }, "Muted: this job's alerts are off; the episode is tracked, nothing is sent.");
    else if (!deliveries.length) none = el("div", { class: "muted" }, alert.routed ? "No channel was configured when it was raised." : "Waiting to be routed to the channels.");
    return el("article", { class: "row", "data-testid": "alert-row", "data-event": alert.event, "data-job": alert.job || "", "data-alert-id": alert.alert_id },
      el("div", { class: "row-head" },
        el("span", { class: "name" }, alert.event + (alert.repeat ? ` (reminder ${alert.repeat})` : "")),
        alert.job ? el("span", {}, alert.job) : null,
        el("span", { class: "muted" }, when(alert.created_at))),
      alert.payload && alert.payload.error ? el("div", { class: "error" }, alert.payload.error) : null,
      none, deliveries.map(deliveryLine));
  }

  async function loadAlerts() {
    const stateLine = $("alerts-state");
    try {
      const data = await api("GET", `/alerts${query({ limit: 20 })}`);
      problem("alerts", null);
      const alerts = data.alerts || [];
      const channels = data.channels || [];
      $("alerts-channels").textContent = channels.length
        ? `Every alert goes to: ${channels.join(", ")}.`
        : "No alert channel is configured: set ALERT_WEBHOOK_URL, ALERT_SLACK_WEBHOOK_URL, ALERT_DISCORD_WEBHOOK_URL or ALERT_TELEGRAM_CHAT_ID.";
      stateLine.textContent = alerts.length ? "" : "No alerts yet: a job that fails, stops firing or recovers shows here.";
      stateLine.dataset.state = alerts.length ? "ok" : "empty";
      show(stateLine, !alerts.length);
      $("alerts-list").replaceChildren(...alerts.map(alertRow));
    } catch (error) {
      if (!state.signedIn) return;
      problem("alerts", describe(error, "Alerts"), error.status);
      stateLine.textContent = "Alerts cannot be shown right now (see the banner above).";
      stateLine.dataset.state = "error";
      show(stateLine, true);
    }
  }

  async function sendTestAlert() {
    const result = $("alerts-test-result");
    const button = $("send-test-alert");
    button.disabled = true;
    result.textContent = "Sending a test alert…";
    result.className = "muted";
    show(result, true);
    try {
      const data = await api("POST", "/alerts/test", {});
      const deliveries = (data.alert && data.alert.deliveries) || [];
      const failed = deliveries.filter((d) => d.status !== "sent");
      result.textContent = failed.length
        ? `Test alert: ${failed.map((d) => `${d.channel} ${d.status}${d.last_error ? ` (${d.last_error})` : ""}`).join("; ")}`
        : `Test alert sent to ${deliveries.map((d) => d.channel).join(", ")}.`;
      result.className = failed.length ? "error" : "ok";
    } catch (error) {
      result.textContent = describe(error, "Test alert");
      result.className = "error";
    } finally {
      button.disabled = false;
    }
    refresh();
  }

  // -- a job's page ---------------------------------------------------------------------------

  function openFromHash() {
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

  async function loadDetail() {
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

  // -- people: the sign-in form, who is signed in, operators and the audit (admins) ----------------

  function signinRefusal(error, byName) {
    if (error.status === 401) return byName ? "Wrong name or password." : "Wrong secret.";
    if (error.status === 429) return `Too many failed sign-ins from here: try again in ${error.body.retry_after || "a few"} seconds.`;
    return describe(error, "Sign-in failed");
  }

  // Which fields the sign-in form shows: the cron secret alone while no operator exists (or with
  // OPS_SECRET_SIGNIN also), else a name and a password.
  function renderSigninForm() {
    const session = state.session || {};
    const bootstrap = Boolean(session.bootstrap);
    show($("signin-bootstrap"), bootstrap);
    show($("signin-user-fields"), !bootstrap);
    show($("signin-secret-fields"), bootstrap || Boolean(session.secret_signin));
    $("user").required = !bootstrap;
    $("password").required = !bootstrap;
    $("secret").required = bootstrap;
  }

  function signedOutPeople() {
    delete document.body.dataset.role;
    show($("who"), false);
    show($("admin-panel"), false);
    show($("operator-secret"), false);
    renderSigninForm();
    // Whether operators exist may have changed since this page loaded (a first admin was made).
    api("GET", "/session").then((session) => {
      if (session && !session.signed_in) { state.session = session; renderSigninForm(); }
    }).catch(() => {});
  }

  function signedInPeople() {
    const session = state.session || {};
    document.body.dataset.role = session.role || "viewer";
    $("who").textContent = session.user ? `${session.user} (${session.role})` : `cron secret (${session.role || "admin"})`;
    show($("who"), true);
    show($("admin-panel"), session.role === "admin");
    show($("admin-bootstrap"), !session.user);
  }

  function isAdmin() { return Boolean(state.session && state.session.role === "admin"); }

  async function loadAdmin() {
    if (!isAdmin()) return;
    await Promise.all([loadOperators(), loadAudit()]);
  }

  async function loadOperators() {
    const stateLine = $("operators-state");
    try {
      const page = await api("GET", "/operators");
      const operators = page.operators || [];
      stateLine.textContent = operators.length ? "" : "No operators yet: add the first admin below.";
      show(stateLine, !operators.length);
      $("operators-list").replaceChildren(...operators.map(operatorRow));
    } catch (error) {
      stateLine.textContent = describe(error, "Operators");
      show(stateLine, true);
    }
  }

  function operatorRow(operator) {
    const roles = ["viewer", "operator", "admin"].map((role) =>
      el("option", { value: role, selected: role === operator.role }, role));
    const name = encodeURIComponent(operator.name);
    return el("article", { class: `row${operator.disabled ? " paused" : ""}`, "data-testid": "operator-row", "data-name": operator.name },
      el("div", { class: "row-head" },
        el("span", { class: "name" }, operator.name),
        el("span", { class: `pill ${operator.disabled ? "pill-off" : "pill-on"}` }, operator.disabled ? "disabled" : operator.role),
        el("span", { class: "muted" }, `last sign-in ${when(operator.last_signin_at)} · ${operator.sessions} session(s)`)),
      el("div", { class: "actions" },
        el("label", {}, "Role ", el("select", {
          "data-testid": "operator-role-select",
          on: { change: (event) => personAct(`/operators/${name}`, "PATCH", { role: event.target.value }, "Role") },
        }, roles)),
        el("button", {
          type: "button", class: "secondary", "data-testid": operator.disabled ? "enable-operator" : "disable-operator",
          on: { click: () => personAct(`/operators/${name}`, "PATCH", { disabled: !operator.disabled }, operator.disabled ? "Enable" : "Disable") },
        }, operator.disabled ? "Enable" : "Disable"),
        el("button", {
          type: "button", class: "secondary", "data-testid": "reset-password",
          on: { click: () => personAct(`/operators/${name}/password`, "POST", {}, "New password") },
        }, "New password")));
  }

  // An admin's action on operators; a generated password is shown once, here, and nowhere else.
  async function personAct(path, method, body, what) {
    const notice = $("operator-secret");
    show(notice, false);
    try {
      const answer = await api(method, path, body);
      problem("action", null);
      if (answer && answer.password) {
        notice.textContent = `Password for ${answer.operator.name}: ${answer.password} (shown once; pass it on now)`;
        show(notice, true);
      }
    } catch (error) {
      problem("action", describe(error, what));
    }
    // A session that changed itself out of admin (or the first admin made) hears 401 and signs out.
    try { state.session = await api("GET", "/session"); } catch (error) { /* shown by the next refresh */ }
    if (state.session && state.session.signed_in) { signedInPeople(); loadAdmin(); } else signedOut();
  }

  async function submitOperator(event) {
    event.preventDefault();
    const message = $("operator-error");
    show(message, false);
    const body = { name: $("o-name").value.trim(), role: $("o-role").value };
    if ($("o-password").value) body.password = $("o-password").value;
    try {
      const answer = await api("POST", "/operators", body);
      $("o-name").value = "";
      $("o-password").value = "";
      const notice = $("operator-secret");
      notice.textContent = answer.password
        ? `Password for ${answer.operator.name}: ${answer.password} (shown once; pass it on now)`
        : `${answer.operator.name} can sign in now.`;
      show(notice, true);
    } catch (error) {
      message.textContent = error.status === 422 ? sentence(error.message) : describe(error, "Add operator");
      show(message, true);
      return;
    }
    try { state.session = await api("GET", "/session"); } catch (error) { /* shown by the next refresh */ }
    if (state.session && state.session.signed_in) { loadAdmin(); return; }
    // The first admin ends the cron secret's session: the password goes to the sign-in form, once.
    signedOut();
    $("signin-notice").textContent = $("operator-secret").textContent + " Sign in as that operator now.";
    show($("signin-notice"), true);
    $("user").value = body.name;
  }

  async function loadAudit() {
    const stateLine = $("audit-state");
    try {
      const page = await api("GET", "/audit?limit=50");
      const entries = page.entries || [];
      stateLine.textContent = entries.length ? "" : "Nothing changed through the console, its API or the CLI yet.";
      show(stateLine, !entries.length);
      $("audit-list").replaceChildren(...entries.map(auditRow));
    } catch (error) {
      stateLine.textContent = describe(error, "Audit");
      show(stateLine, true);
    }
  }

  function auditRow(entry) {
    const fields = (row) => Object.entries(row).map(([key, value]) => `${key}: ${JSON.stringify(value)}`);
    let changed = ["no change"];
    if (entry.before && entry.after) {
      changed = Object.keys({ ...entry.after, ...entry.before }).map((key) =>
        `${key}: ${JSON.stringify(entry.before[key] ?? null)} → ${JSON.stringify(entry.after[key] ?? null)}`);
    } else if (entry.after) changed = ["created", ...fields(entry.after)];
    else if (entry.before) changed = ["deleted", ...fields(entry.before)];
    return el("article", { class: "row", "data-testid": "audit-row" },
      el("div", { class: "row-head" },
        el("span", { class: "name" }, entry.actor),
        el("span", {}, entry.action),
        el("span", { class: "muted" }, `${entry.object_type || ""} ${entry.object_name || entry.object_id || ""}`),
        el("span", { class: "muted" }, when(entry.at))),
      el("div", { class: "audit-change" }, changed.join("; ")));
  }

  // -- wiring ------------------------------------------------------------------------------------

  function bind() {
    $("signin-form").addEventListener("submit", submitSignin);
    $("operator-form").addEventListener("submit", submitOperator);
    $("sign-out").addEventListener("click", signOut);
    $("create-job").addEventListener("click", () => openForm(null));
    $("send-test-alert").addEventListener("click", sendTestAlert);
    $("job-form").addEventListener("submit", submitForm);
    $("job-form-cancel").addEventListener("click", closeForm);
    $("detail-close").addEventListener("click", () => { location.hash = ""; });
    $("bulk-retry").addEventListener("click", () => bulk("retry"));
    $("bulk-cancel").addEventListener("click", () => bulk("cancel"));
    window.addEventListener("hashchange", () => {
      openFromHash();
      if (!state.detailId && state.signedIn) refresh();  // back to the list: it was not polled meanwhile
    });
    let typing = null;
    const soon = () => { clearTimeout(typing); typing = setTimeout(refresh, 250); };
    $("search").addEventListener("input", soon);
    $("runs-job").addEventListener("input", soon);
    for (const id of ["filter", "project", "runs-status"]) $(id).addEventListener("change", refresh);
    // Paused while the tab is hidden; caught up at once when it comes back.
    document.addEventListener("visibilitychange", () => { if (!document.hidden && state.signedIn) refresh(); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
