// The banner at the top (one line per panel in trouble), and actions whose failure it shows.

import { api, describe } from "./api.js";
import { $, el, show } from "./dom.js";
import { refresh } from "./main.js";
import { state } from "./state.js";

// panel -> one line, or several for the status panel. A panel's 503 (the database is down, a
// setting is missing) says what /status already says, so while /status reports it, it is not repeated.
export function problem(panel, text, status) {
  if (text && text.length) state.problems[panel] = { text, status }; else delete state.problems[panel];
  renderBanner();
}

export function renderBanner() {
  const banner = $("banner");
  const statusKnown = Boolean(state.problems.status);
  const lines = [...new Set(Object.entries(state.problems)
    .filter(([panel, entry]) => panel === "status" || !(statusKnown && entry.status === 503))
    .flatMap(([, entry]) => entry.text))];
  banner.replaceChildren(...lines.map((line) => el("p", { text: line })));
  show(banner, lines.length > 0);
}

// An action on a job or a request (pause, delete, retry...): true when it was done; a refusal is
// a banner line for a while. Every panel refreshes after it either way.
export async function act(path, method, body, what) {
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
