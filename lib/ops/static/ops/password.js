// "Change password": the signed-in operator's own (any role), from the link beside who is signed in.
// The API checks the current password like a sign-in (throttled); errors are shown on the field at fault.

import { api, describe } from "./api.js";
import { $, sentence, show } from "./dom.js";
import { state } from "./state.js";

const FIELDS = ["current", "new", "again"];

// Only a name-and-password session has a password of its own (not the cron secret's).
export function renderPasswordLink() {
  const session = state.session || {};
  show($("change-password"), Boolean(state.signedIn && session.user));
  if (!state.signedIn || !session.user) closePassword();
}

function openPassword() {
  show($("password-done"), false);
  clearErrors();
  $("pw-user").value = (state.session && state.session.user) || "";
  show($("password-panel"), true);
  $("change-password").setAttribute("aria-expanded", "true");
  $("password-panel").scrollIntoView({ block: "nearest" });
  $("pw-current").focus();
}

export function closePassword() {
  for (const field of FIELDS) $(`pw-${field}`).value = "";
  clearErrors();
  show($("password-panel"), false);
  $("change-password").setAttribute("aria-expanded", "false");
}

function clearErrors() {
  show($("password-error"), false);
  for (const field of FIELDS) fieldError(field, null);
}

function fieldError(field, message) {
  const line = document.querySelector(`[data-testid="password-error-${field}"]`);
  line.textContent = message || "";
  show(line, Boolean(message));
  if (message) $(`pw-${field}`).setAttribute("aria-invalid", "true");
  else $(`pw-${field}`).removeAttribute("aria-invalid");
}

async function submitPassword(event) {
  event.preventDefault();
  clearErrors();
  const current = $("pw-current").value;
  const next = $("pw-new").value;
  if (!current) { fieldError("current", "Enter your current password."); return; }
  if (next !== $("pw-again").value) { fieldError("again", "The two new passwords differ."); return; }
  try {
    const answer = await api("POST", "/me/password", { current, new: next });
    closePassword();
    const ended = answer.sessions_ended;
    $("password-done").textContent = "Password changed. " +
      (ended ? `${ended} other session${ended === 1 ? "" : "s"} signed out; this one stays.` : "This session stays signed in.");
    show($("password-done"), true);
  } catch (error) {
    const field = error.body && error.body.field;
    if (error.status === 429) {
      showError(`Too many wrong passwords: try again in ${error.body.retry_after || "a few"} seconds.`);
    } else if (FIELDS.includes(field)) {
      fieldError(field, sentence(error.message) + ".");
    } else if (error.status !== 401) {
      showError(describe(error, "Change password"));
    }
  }
}

function showError(text) {
  $("password-error").textContent = text;
  show($("password-error"), true);
}

export function bindPassword() {
  $("change-password").addEventListener("click", () => {
    if ($("password-panel").hidden) openPassword(); else closePassword();
  });
  $("password-cancel").addEventListener("click", closePassword);
  $("password-form").addEventListener("submit", submitPassword);
  // A field's error goes as soon as it is edited.
  for (const field of FIELDS) $(`pw-${field}`).addEventListener("input", () => fieldError(field, null));
}
