// The alerts panel, a job's noise control in words, and Send test alert.

import { api, describe } from "./api.js";
import { problem } from "./banner.js";
import { $, el, query, seconds, show, when } from "./dom.js";
import { refresh } from "./main.js";
import { state } from "./state.js";

// A job's noise control in words, as `jobs show` says it.
export function alertControls(job) {
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

export async function loadAlerts() {
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

export async function sendTestAlert() {
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
