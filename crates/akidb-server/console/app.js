// AkiDB console: a single-page app over the REST API (docs/api.md), served by the binary at
// /console. No build step and no dependencies: what the browser runs is this file.
"use strict";

const KEY_STORAGE = "akidb.apiKey";
const view = document.getElementById("view");
const banner = document.getElementById("banner");

/** An error answer of the API (or a failed connection), with the server's code. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the REST API with the key kept in session storage; throws ApiError. */
async function api(method, path, body) {
  const headers = {};
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers["Authorization"] = "Bearer " + key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "server_unreachable", "The AkiDB server does not answer (is it running?)");
  }
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  if (!resp.ok) {
    const err = json && json.error ? json.error : { code: "http_" + resp.status, message: text || resp.statusText };
    throw new ApiError(resp.status, err.code, err.message);
  }
  return json;
}

/** What a user should read for an error, with the fix when there is one. */
function explain(err) {
  if (!(err instanceof ApiError)) return String(err);
  if (err.code === "server_unreachable") return "Server down: " + err.message + ".";
  if (err.status === 401) return "Wrong or missing API key: enter the key above (" + err.code + ").";
  if (err.status === 403) return "This key may not do that (" + err.code + "): use a full-access key.";
  if (err.code === "collection_not_found") return "Collection not found: " + err.message + ".";
  return err.message + " (" + err.code + ")";
}

function showError(err) {
  banner.className = "";
  banner.textContent = explain(err);
  banner.hidden = false;
}

function showInfo(text) {
  banner.className = "info";
  banner.textContent = text;
  banner.hidden = false;
}

function clearBanner() { banner.hidden = true; }

/** Escapes text for HTML. */
function esc(v) {
  return String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function badge(kind, text) { return `<span class="badge ${esc(kind)}">${esc(text)}</span>`; }
function enc(name) { return encodeURIComponent(name); }
function render(html) { view.innerHTML = html; }

/** Runs an action from a button: disables it meanwhile, shows errors, then re-renders. */
async function act(button, fn, done) {
  button.disabled = true;
  try {
    const msg = await fn();
    if (msg) showInfo(msg); else clearBanner();
    await done();
  } catch (e) {
    showError(e);
    button.disabled = false;
  }
}

// ---- pages ----

async function collectionsPage() {
  const { collections } = await api("GET", "/api/v1/collections");
  const sizes = await Promise.all(collections.map((c) =>
    c.status === "damaged" ? null : api("GET", `/api/v1/admin/collections/${enc(c.name)}/tier`).catch(() => null)));
  const rows = collections.map((c, i) => `<tr data-name="${esc(c.name)}">
      <td><a href="#/collection/${enc(c.name)}">${esc(c.name)}</a></td>
      <td class="num points">${c.points}</td><td class="num">${c.dimension}</td><td>${esc(c.metric)}</td>
      <td class="tier">${badge(c.tier, c.tier)}</td>
      <td>${badge(c.status, c.status)}${c.reason ? ` <span class="error">${esc(c.reason)}</span>` : ""}</td>
      <td class="num">${sizes[i] ? bytes(sizes[i].bytes_on_disk) : "–"}</td></tr>`).join("");
  render(`<h1>Collections</h1>
    ${collections.length === 0
      ? `<div class="empty" id="empty">No collections yet. Create one below, or with <code>POST /api/v1/collections</code>.</div>`
      : `<table id="collections"><thead><tr><th>name</th><th class="num">points</th><th class="num">dimension</th><th>metric</th><th>tier</th><th>status</th><th class="num">size on disk</th></tr></thead><tbody>${rows}</tbody></table>`}
    <h2>New collection</h2>
    <form class="row" id="create-form">
      <label>name<input name="name" required pattern="[A-Za-z0-9_\\-]+"></label>
      <label>dimension<input name="dimension" type="number" min="1" value="384" required></label>
      <label>metric<select name="metric"><option>cosine</option><option>l2</option><option>dot</option></select></label>
      <button class="primary" type="submit">Create</button>
    </form>`);
  document.getElementById("create-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = { name: f.get("name"), dimension: Number(f.get("dimension")), metric: f.get("metric") };
    await act(ev.submitter, async () => { await api("POST", "/api/v1/collections", body); return `Created ${body.name}.`; }, route);
  };
}

async function collectionPage(name) {
  const c = await api("GET", `/api/v1/collections/${enc(name)}`);
  render(`<h1>${esc(c.name)} ${badge(c.tier, c.tier)} ${badge(c.status, c.status)}</h1>
    <p class="muted">${c.points} points · ${c.dimension} dimensions · ${esc(c.metric)} · HNSW m=${c.index.m}, ef_search=${c.index.ef_search}</p>
    <div class="grid">
      <section class="card"><h2>Search</h2>
        <form id="search-form">
          <p><label><input type="radio" name="by" value="id" checked> by point id</label>
             <label><input type="radio" name="by" value="vector"> by vector</label></p>
          <p><input name="id" placeholder="point id, e.g. 42" style="width:100%"></p>
          <p><textarea name="vector" placeholder="[0.1, 0.2, …] (${c.dimension} numbers)" hidden></textarea></p>
          <p><label class="muted">filter (JSON, optional)</label>
             <textarea name="filter" placeholder='{"must":[{"key":"section","match":{"value":"faq"}}]}'></textarea></p>
          <p>k <input name="k" type="number" min="1" value="10" style="width:5rem"> <button class="primary" type="submit">Search</button></p>
        </form>
        <div id="results"></div>
      </section>
      <section class="card"><h2>Points</h2><div id="points"></div>
        <p><button id="more" hidden>Next page</button></p></section>
    </div>`);
  const form = document.getElementById("search-form");
  form.by.forEach((r) => r.onchange = () => {
    const byId = form.by.value === "id";
    form.id.hidden = !byId;
    form.vector.hidden = byId;
  });
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      let vector;
      if (form.by.value === "id") {
        const raw = form.id.value.trim();
        const id = /^\d+$/.test(raw) ? Number(raw) : raw;
        const got = await api("POST", `/api/v1/collections/${enc(name)}/points/get`, { ids: [id], with_vector: true, with_payload: false });
        if (got.points.length === 0) throw new ApiError(404, "point_not_found", `no point ${raw} in ${name}`);
        vector = got.points[0].vector;
      } else {
        try { vector = JSON.parse(form.vector.value); } catch (e) { throw new ApiError(400, "invalid_json", "the vector is not a JSON array of numbers"); }
      }
      const body = { vector, k: Number(form.k.value) || 10, with_payload: true };
      if (form.filter.value.trim()) {
        try { body.filter = JSON.parse(form.filter.value); } catch (e) { throw new ApiError(400, "invalid_json", "the filter is not valid JSON"); }
      }
      const { hits } = await api("POST", `/api/v1/collections/${enc(name)}/search`, body);
      clearBanner();
      document.getElementById("results").innerHTML = hits.length === 0
        ? `<div class="empty">No hits.</div>`
        : `<table id="hits"><thead><tr><th>id</th><th class="num">score</th><th>payload</th></tr></thead><tbody>${hits.map((h) =>
            `<tr><td>${esc(h.id)}</td><td class="num">${h.score.toFixed(4)}</td><td><pre class="payload">${esc(JSON.stringify(h.payload ?? null))}</pre></td></tr>`).join("")}</tbody></table>`;
    } catch (e) { showError(e); }
  };
  let offset = null;
  const box = document.getElementById("points");
  const more = document.getElementById("more");
  async function page() {
    const body = { limit: 20, with_payload: true };
    if (offset !== null) body.offset = offset;
    const r = await api("POST", `/api/v1/collections/${enc(name)}/points/scroll`, body);
    if (r.points.length === 0 && offset === null) {
      box.innerHTML = `<div class="empty">This collection has no points yet. Upsert some with <code>PUT /api/v1/collections/${esc(name)}/points</code>.</div>`;
    } else {
      box.innerHTML = `<table id="point-list"><thead><tr><th>id</th><th>payload</th></tr></thead><tbody>${r.points.map((p) =>
        `<tr><td>${esc(p.id)}</td><td><pre class="payload">${esc(JSON.stringify(p.payload ?? null))}</pre></td></tr>`).join("")}</tbody></table>`;
    }
    offset = r.next_offset;
    more.hidden = offset === null || offset === undefined;
  }
  more.onclick = () => page().catch(showError);
  await page();
}

async function tiersPage() {
  const { collections } = await api("GET", "/api/v1/collections");
  const live = collections.filter((c) => c.status !== "damaged");
  const tiers = await Promise.all(live.map((c) => api("GET", `/api/v1/admin/collections/${enc(c.name)}/tier`)));
  render(`<h1>Tiers</h1>${tiers.length === 0 ? `<div class="empty">No collections.</div>` :
    `<table id="tiers"><thead><tr><th>collection</th><th>tier</th><th>pinned</th><th>last access</th><th class="num">in memory</th><th class="num">on disk</th><th></th></tr></thead><tbody>${
      tiers.map((t) => `<tr data-name="${esc(t.name)}"><td>${esc(t.name)}</td><td class="tier">${badge(t.tier, t.tier)}</td><td>${t.pinned ? "yes" : "no"}</td>
        <td>${esc(t.last_access ?? "–")}</td><td class="num">${bytes(t.bytes_in_memory)}</td><td class="num">${bytes(t.bytes_on_disk)}</td>
        <td><button data-op="promote" ${t.tier === "hot" ? "disabled" : ""}>Promote</button>
            <button data-op="warm" ${t.tier !== "hot" ? "disabled" : ""}>To warm</button>
            <button data-op="cold" ${t.tier === "cold" ? "disabled" : ""}>To cold</button>
            <button data-op="${t.pinned ? "unpin" : "pin"}">${t.pinned ? "Unpin" : "Pin"}</button></td></tr>`).join("")}</tbody></table>`}`);
  view.querySelectorAll("button[data-op]").forEach((b) => b.onclick = () => {
    const name = b.closest("tr").dataset.name;
    const op = b.dataset.op;
    const path = `/api/v1/admin/collections/${enc(name)}/`;
    act(b, async () => {
      const t = op === "warm" || op === "cold"
        ? await api("POST", path + "demote", { to: op })
        : await api("POST", path + op);
      return `${name} is ${t.tier}${t.pinned ? " (pinned)" : ""}.`;
    }, route);
  });
}

async function snapshotsPage(selected) {
  const { collections } = await api("GET", "/api/v1/collections");
  if (collections.length === 0) { render(`<h1>Snapshots</h1><div class="empty">No collections.</div>`); return; }
  const name = selected || collections[0].name;
  const { snapshots } = await api("GET", `/api/v1/admin/collections/${enc(name)}/snapshots`);
  render(`<h1>Snapshots</h1>
    <form class="row"><label>collection<select id="snap-collection">${collections.map((c) =>
      `<option ${c.name === name ? "selected" : ""}>${esc(c.name)}</option>`).join("")}</select></label>
      <button class="primary" type="button" id="take">Take snapshot</button></form>
    ${snapshots.length === 0 ? `<div class="empty">No snapshots of ${esc(name)} yet.</div>` :
      `<table id="snapshots"><thead><tr><th>id</th><th>created</th><th class="num">lsn</th><th class="num">rows</th><th class="num">size</th><th>where</th><th></th></tr></thead><tbody>${
        snapshots.slice().reverse().map((s) => `<tr data-id="${esc(s.snapshot_id)}"><td><code>${esc(s.snapshot_id)}</code></td><td>${esc(s.created_at)}</td>
          <td class="num">${s.lsn}</td><td class="num">${s.rows}</td><td class="num">${bytes(s.bytes)}</td>
          <td>${[s.local ? "local" : "", s.remote ? "object store" : ""].filter(Boolean).join(", ")}</td>
          <td><button data-restore>Restore</button></td></tr>`).join("")}</tbody></table>`}`);
  document.getElementById("snap-collection").onchange = (ev) => { location.hash = `#/snapshots/${enc(ev.target.value)}`; };
  document.getElementById("take").onclick = (ev) => act(ev.target, async () => {
    const s = await api("POST", `/api/v1/admin/collections/${enc(name)}/snapshot`);
    return `Snapshot ${s.snapshot_id} taken (${s.rows} rows).`;
  }, route);
  view.querySelectorAll("button[data-restore]").forEach((b) => b.onclick = () => {
    const id = b.closest("tr").dataset.id;
    if (!confirm(`Replace ${name} with snapshot ${id}? Writes after it are lost.`)) return;
    act(b, async () => {
      await api("POST", `/api/v1/admin/collections/${enc(name)}/restore`, { snapshot_id: id });
      return `${name} restored from ${id}.`;
    }, route);
  });
}

async function dlqPage() {
  const { entries } = await api("GET", "/api/v1/admin/dlq");
  render(`<h1>Dead-letter queue</h1>
    <p class="muted">Uploads to the object store that failed; they are retried, and can be retried now.</p>
    <p><button class="primary" id="retry" ${entries.length === 0 ? "disabled" : ""}>Retry all</button></p>
    ${entries.length === 0 ? `<div class="empty" id="dlq-empty">The queue is empty: every upload reached the object store.</div>` :
      `<table id="dlq"><thead><tr><th>key</th><th class="num">attempts</th><th>first failed</th><th>last failed</th><th>last error</th></tr></thead><tbody>${
        entries.map((e) => `<tr><td><code>${esc(e.key)}</code></td><td class="num">${e.attempts}</td><td>${esc(e.first_failed_at)}</td><td>${esc(e.last_failed_at)}</td><td class="error">${esc(e.error)}</td></tr>`).join("")}</tbody></table>`}`);
  document.getElementById("retry").onclick = (ev) => act(ev.target, async () => {
    const r = await api("POST", "/api/v1/admin/dlq/retry-all");
    return `Retried: ${r.succeeded} succeeded, ${r.failed} failed, ${r.remaining} remaining.`;
  }, route);
}

/** Sums `akidb_http_requests_total` and the latency histogram's buckets (by `le`). */
function parseMetrics(text) {
  let requests = 0;
  const buckets = new Map();
  for (const line of text.split("\n")) {
    if (line.startsWith("akidb_http_requests_total")) {
      requests += Number(line.slice(line.lastIndexOf(" ") + 1));
    } else if (line.startsWith("akidb_http_request_duration_seconds_bucket")) {
      const le = /le="([^"]+)"/.exec(line)[1];
      const n = Number(line.slice(line.lastIndexOf(" ") + 1));
      buckets.set(le, (buckets.get(le) || 0) + n);
    }
  }
  return { requests, buckets };
}

/** The 99th percentile (upper bucket bound, seconds) of the requests between two scrapes. */
function p99(before, after) {
  const bounds = [...after.buckets.keys()].sort((a, b) => Number(a) - Number(b));
  const delta = bounds.map((le) => [le, after.buckets.get(le) - (before.buckets.get(le) || 0)]);
  const total = delta.length ? delta[delta.length - 1][1] : 0;
  if (total <= 0) return null;
  const found = delta.find(([, n]) => n >= total * 0.99);
  return found ? Number(found[0]) : null;
}

function spark(values) {
  const max = Math.max(1e-9, ...values);
  const pts = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * 300},${58 - (v / max) * 54}`).join(" ");
  return `<svg class="spark" viewBox="0 0 300 60" preserveAspectRatio="none"><polyline fill="none" stroke="#3157d5" stroke-width="2" points="${pts}"/></svg>`;
}

let liveTimer = null;

async function livePage() {
  render(`<h1>Live</h1><p class="muted">From <code>/metrics</code> every 2 s: REST requests per second and their p99 latency (all routes).</p>
    <div class="grid"><section class="card"><h2>Requests/s</h2><div class="stat" id="rate">…</div><div id="rate-spark"></div></section>
    <section class="card"><h2>p99 latency</h2><div class="stat" id="p99">…</div><div id="p99-spark"></div></section></div>`);
  const fetchMetrics = async () => {
    const resp = await fetch("/metrics").catch(() => null);
    if (!resp || !resp.ok) throw new ApiError(0, "server_unreachable", "The AkiDB server does not answer (is it running?)");
    return { at: performance.now(), ...parseMetrics(await resp.text()) };
  };
  let last = await fetchMetrics();
  const rates = [], p99s = [];
  liveTimer = setInterval(async () => {
    if (!location.hash.startsWith("#/live")) { clearInterval(liveTimer); liveTimer = null; return; }
    try {
      const now = await fetchMetrics();
      const rate = (now.requests - last.requests) / ((now.at - last.at) / 1000);
      const p = p99(last, now);
      last = now;
      rates.push(rate); p99s.push(p ?? 0);
      if (rates.length > 60) { rates.shift(); p99s.shift(); }
      document.getElementById("rate").textContent = rate.toFixed(1);
      document.getElementById("p99").textContent = p === null ? "no requests" : p === Infinity ? "> largest bucket" : `≤ ${(p * 1000).toFixed(p < 0.01 ? 1 : 0)} ms`;
      document.getElementById("rate-spark").innerHTML = spark(rates);
      document.getElementById("p99-spark").innerHTML = spark(p99s.map((x) => (Number.isFinite(x) ? x : 0)));
      clearBanner();
    } catch (e) { showError(e); }
  }, 2000);
}

// ---- routing ----

async function route() {
  if (liveTimer) { clearInterval(liveTimer); liveTimer = null; }
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const page = parts[0] || "collections";
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === (page === "collection" ? "collections" : page)));
  try {
    if (page === "collection") await collectionPage(parts[1]);
    else if (page === "tiers") await tiersPage();
    else if (page === "snapshots") await snapshotsPage(parts[1]);
    else if (page === "dlq") await dlqPage();
    else if (page === "live") await livePage();
    else await collectionsPage();
    // Marks when a view is drawn with its data, for browser performance tools.
    performance.mark("akidb:view-rendered", { detail: page });
  } catch (e) {
    showError(e);
    render(`<div class="empty error" id="page-error">${esc(explain(e))}</div>`);
  }
}

document.getElementById("key-form").onsubmit = (ev) => {
  ev.preventDefault();
  const input = document.getElementById("key-input");
  if (input.value) sessionStorage.setItem(KEY_STORAGE, input.value);
  input.value = "";
  input.placeholder = "key set for this tab";
  clearBanner();
  route();
};
document.getElementById("key-clear").onclick = () => {
  sessionStorage.removeItem(KEY_STORAGE);
  document.getElementById("key-input").placeholder = "API key (kept for this tab)";
  route();
};
if (sessionStorage.getItem(KEY_STORAGE)) document.getElementById("key-input").placeholder = "key set for this tab";
window.addEventListener("hashchange", route);
route();
