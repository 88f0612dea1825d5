// The JSON API under /api/ops: one fetch wrapper and how its errors read.

import { signedOut } from "./main.js";

const API = "/api/ops";

class ApiError extends Error {
  constructor(status, body, path) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.path = path;
  }
}

// The reads in flight, so that signing out can cancel them: a read the logout
// overtakes would come back 401, and the browser would log an error nobody caused.
let reads = new AbortController();

export function cancelReads() {
  reads.abort();
  reads = new AbortController();
}

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method === "GET") init.signal = reads.signal;
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
    // A cancelled read has no answer: its caller never resumes, as if it were still waiting.
    if (error.name === "AbortError") return new Promise(() => {});
    throw new ApiError(0, { error: "cannot reach the server" }, path);
  }
  let data = null;
  try { data = await response.json(); } catch (error) { data = null; }
  if (init.signal && init.signal.aborted) return new Promise(() => {});
  if (!response.ok) {
    if (response.status === 401 && path !== "/login") signedOut();
    throw new ApiError(response.status, data, path);
  }
  return data;
}

export function describe(error, what) {
  if (error.status === 404 && !(error.body && error.body.error && error.body.error !== "not found")) {
    return `${what}: this server has no ${API}${error.path.split("?")[0]} endpoint (404). ` +
      "The console's data API is not deployed here yet.";
  }
  if (error.status === 0) return `${what}: cannot reach the server; retrying every few seconds.`;
  return `${what}: ${error.message} (HTTP ${error.status})`;
}
