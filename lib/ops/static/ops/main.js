// The cronrelay console. Plain DOM, no build step, no outside requests: it
// talks only to the JSON API under /api/ops (see docs/console.md). Values from
// the API are written with textContent, never as HTML.
// This module starts it: sign-in, the session, the refresh loop and the page's wiring;
// each panel is its own module beside this one (state.js holds what they share).
// The panels import refresh() from here while this module imports them: ES modules allow
// the cycle, and nothing is called before start(), when every module has loaded.

import { loadAdmin, signedInPeople, signedOutPeople, submitOperator } from "./admin.js";
import { loadAlerts, sendTestAlert } from "./alerts.js";
import { api, cancelReads, describe } from "./api.js";
import { problem, renderBanner } from "./banner.js";
import { $, pad, sentence, show } from "./dom.js";
import { closeForm, openForm, submitForm } from "./jobform.js";
import { loadDetail, loadJobs, openFromHash } from "./jobs.js";
import { bindPassword, renderPasswordLink } from "./password.js";
import { bulk, loadRequests } from "./requests.js";
import { loadRuns } from "./runs.js";
import { state } from "./state.js";
import { loadWorkers } from "./workers.js";

const POLL_MS = 4000;
// While a request the operator is watching is queued or running, its panel refreshes every second.
const BUSY_POLL_MS = 1000;

// -- sign-in -----------------------------------------------------------------------

export function signedOut() {
  state.signedIn = false;
  stopPolling();
  show($("console"), false);
  show($("sign-out"), false);
  renderPasswordLink();
  show($("password-done"), false);
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
  renderPasswordLink();
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
  stopPolling();
  cancelReads();
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

function stopPolling() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

export async function refresh() {
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

// -- the sign-in form -----------------------------------------------------------------

function signinRefusal(error, byName) {
  if (error.status === 401) return byName ? "Wrong name or password." : "Wrong secret.";
  if (error.status === 429) return `Too many failed sign-ins from here: try again in ${error.body.retry_after || "a few"} seconds.`;
  return describe(error, "Sign-in failed");
}

// Which fields the sign-in form shows: the cron secret alone while no operator exists (or with
// OPS_SECRET_SIGNIN also), else a name and a password.
export function renderSigninForm() {
  const session = state.session || {};
  const bootstrap = Boolean(session.bootstrap);
  show($("signin-bootstrap"), bootstrap);
  show($("signin-user-fields"), !bootstrap);
  show($("signin-secret-fields"), bootstrap || Boolean(session.secret_signin));
  $("user").required = !bootstrap;
  $("password").required = !bootstrap;
  $("secret").required = bootstrap;
}

// -- wiring ------------------------------------------------------------------------------------

function bind() {
  $("signin-form").addEventListener("submit", submitSignin);
  bindPassword();
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
