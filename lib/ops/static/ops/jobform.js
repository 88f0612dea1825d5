// The job form: new job and edit, under the row (or page, or button) it was opened from.

import { api, describe } from "./api.js";
import { $, seconds, show } from "./dom.js";
import { refresh } from "./main.js";
import { state } from "./state.js";

const FIELDS = ["project_id", "name", "kind", "target", "schedule_type", "schedule", "timezone", "payload", "enabled",
  "alerts_enabled", "alert_after_failures", "realert_after", "overdue_grace"];

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

export function openForm(job, near) {
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

export function closeForm() {
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

export async function submitForm(event) {
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
