// The runs panel.

import { api, describe } from "./api.js";
import { problem } from "./banner.js";
import { $, badge, duration, el, query, show, when } from "./dom.js";
import { PAGE_SIZE, state } from "./state.js";

export function runRow(run) {
  return el("article", { class: "row", "data-testid": "run-row", "data-job": run.job, "data-status": run.status },
    el("div", { class: "row-head" }, badge(run.status), el("span", { class: "name" }, run.job),
      el("span", { class: "muted" }, `${run.trigger}${run.dry_run ? " · dry run" : ""} · #${run.id}`)),
    el("div", {}, el("span", { class: "label" }, "Started "), when(run.started_at), " ", el("span", { class: "muted" }, duration(run.duration_ms))),
    run.error ? el("div", { class: "error" }, run.error) : null,
    run.stats && Object.keys(run.stats).length ? el("div", { class: "muted stats" }, JSON.stringify(run.stats)) : null);
}

export async function loadRuns() {
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
