// Small DOM and formatting helpers. Values from the API are written with textContent, never as HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function show(node, visible) { node.hidden = !visible; }

export function pad(n) { return String(n).padStart(2, "0"); }

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const text = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} UTC`;
  return `${text} (${relative(date)})`;
}

function relative(date) {
  const seconds = Math.round((date.getTime() - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  const amount = abs < 60 ? `${abs}s` : abs < 3600 ? `${Math.round(abs / 60)}m` :
    abs < 86400 ? `${Math.round(abs / 3600)}h` : `${Math.round(abs / 86400)}d`;
  if (abs < 2) return "just now";
  return seconds >= 0 ? `in ${amount}` : `${amount} ago`;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)}m ${Math.round((ms % 60000) / 1000)}s`;
}

export function badge(status) {
  return el("span", { class: `badge badge-${status || "none"}`, "data-testid": "status-badge", "data-status": status || "" },
    status || "never run");
}

export function sentence(line) {
  const text = String(line);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== "" && value !== null && value !== undefined) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}

// Alert durations come in seconds; the form shows them as the API also takes them (90s, 30m, 4h).
export function seconds(value) {
  if (value === null || value === undefined || value === "") return "";
  const n = Number(value);
  if (n % 3600 === 0 && n) return `${n / 3600}h`;
  if (n % 60 === 0 && n) return `${n / 60}m`;
  return `${n}s`;
}
