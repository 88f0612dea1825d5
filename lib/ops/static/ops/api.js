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

export async function api(method, path, body) {
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

export function describe(error, what) {
  if (error.status === 404 && !(error.body && error.body.error && error.body.error !== "not found")) {
    return `${what}: this server has no ${API}${error.path.split("?")[0]} endpoint (404). ` +
      "The console's data API is not deployed here yet.";
  }
  if (error.status === 0) return `${what}: cannot reach the server; retrying every few seconds.`;
  return `${what}: ${error.message} (HTTP ${error.status})`;
}
