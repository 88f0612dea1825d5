// People: who is signed in, and for admins the operators and the audit.

import { api, describe } from "./api.js";
import { problem } from "./banner.js";
import { $, el, sentence, show, when } from "./dom.js";
import { renderSigninForm, signedOut } from "./main.js";
import { state } from "./state.js";

export function signedOutPeople() {
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

export function signedInPeople() {
  const session = state.session || {};
  document.body.dataset.role = session.role || "viewer";
  $("who").textContent = session.user ? `${session.user} (${session.role})` : `cron secret (${session.role || "admin"})`;
  show($("who"), true);
  show($("admin-panel"), session.role === "admin");
  show($("admin-bootstrap"), !session.user);
}

function isAdmin() { return Boolean(state.session && state.session.role === "admin"); }

export async function loadAdmin() {
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

export async function submitOperator(event) {
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
