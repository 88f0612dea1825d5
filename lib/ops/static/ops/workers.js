// Workers: machines outside the cloud (lib/workers) and the jobs they run.

import { api } from "./api.js";
import { act } from "./banner.js";
import { $, el, show, when } from "./dom.js";
import { refresh } from "./main.js";
import { state } from "./state.js";

// A worker not seen for this long is shown offline, and Run now on its jobs warns.
const WORKER_QUIET_MS = 2 * 60 * 1000;

function workerQuiet(lastSeen) {
  return !lastSeen || Date.now() - new Date(lastSeen).getTime() > WORKER_QUIET_MS;
}

export async function loadWorkers() {
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

export function workerLines(job) {
  const worker = job.worker;
  const notice = (state.workerNotices || {})[job.id];
  return el("div", { class: "worker", "data-testid": "worker-of-job" },
    el("div", {}, el("span", { class: "label" }, "Worker "), worker.name || "?",
      worker.removed_at ? el("span", { class: "error" }, " (no longer listed by the worker)") : null),
    el("div", {}, el("span", { class: "label" }, "Its schedule "), worker.schedule_text),
    worker.instructions ? el("div", { class: "muted" }, worker.instructions) : null,
    notice ? el("div", { "data-testid": "worker-run-notice", class: notice.warn ? "error" : "muted" }, notice.text) : null);
}

export async function runOnWorker(job) {
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
