// Identity OS dashboard: plain JavaScript against this server's API. The
// key lives in sessionStorage only; event streams are read with fetch
// (EventSource cannot send Authorization).
"use strict";
const MODES = ["perception", "exploration", "order", "assertion", "connection", "identity", "stress_response"];
const COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#8c564b", "#e377c2"];
const STRESS = { LOW: 0, MED: 1, HIGH: 2, OVER: 3 };
const PAGE = 20;
const $ = (id) => document.getElementById(id);
const state = { key: sessionStorage.getItem("idos_key"), offset: 0, total: 0, current: null, stream: null, clocks: {}, busy: false };

class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status; this.code = body && body.code; this.retryAfter = retryAfter;
  }
}

async function api(method, path, body, key = state.key) {
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, json, response.headers.get("Retry-After"));
  return json;
}

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}
function fill(id, rows) { const target = $(id); target.replaceChildren(...rows); }
function pairs(id, entries) {
  fill(id, entries.flatMap(([k, v, attrs]) => [el("dt", k), el("dd", v, attrs || {})]));
}
function row(cells) { const tr = el("tr"); for (const c of cells) tr.append(c instanceof Node ? wrap(c) : el("td", c)); return tr; }
function wrap(node) { const td = el("td"); td.append(node); return td; }
function button(text, onClick, label) { const b = el("button", text, { type: "button", "aria-label": label || text }); b.addEventListener("click", onClick); return b; }
const num = (x, d = 3) => (x === null || x === undefined ? "—" : Number(x).toFixed(d));
function status(message, isError) { const s = $("status"); s.textContent = message; s.className = isError ? "error" : ""; }
function explain(error) {
  if (!(error instanceof ApiError)) return `Request failed: ${error.message}`;
  if (error.status === 429) {
    const when = error.code === "quota_exceeded" ? "the monthly quota resets on the 1st (UTC)" : `retry in ${error.retryAfter || "a few"} s`;
    return `Refused (${error.code}): ${error.message} — ${when}.`;
  }
  return `${error.code || error.status}: ${error.message}`;
}

async function signIn(key) {
  try {
    const usage = await api("GET", "/v1/usage", undefined, key);
    state.key = key; sessionStorage.setItem("idos_key", key);
    $("sign-in-view").hidden = true; $("app").hidden = false; $("sign-out").hidden = false;
    $("account").textContent = `tier ${usage.tier}`;
    showUsage(usage);
    await Promise.all([loadInstances(), loadKeys(), loadPersonas()]);
    status("Signed in.");
  } catch (error) {
    sessionStorage.removeItem("idos_key");
    const message = error.status === 401 ? `That API key was not accepted: ${error.message}` : explain(error);
    let p = $("sign-in-error");
    if (!p) { p = el("p", "", { id: "sign-in-error", role: "alert", class: "error" }); $("sign-in").after(p); }
    p.textContent = message;
  }
}

async function loadUsage() {
  try { showUsage(await api("GET", "/v1/usage")); } catch (error) { status(explain(error), true); }
}

function showUsage(u) {
  const unlimited = (x) => (x === null ? "no limit" : x);
  pairs("usage", [
    ["Monthly cycles", `${u.monthly_used} of ${unlimited(u.monthly_quota)}`],
    ["Rate limit", u.rate_limit_per_minute === null ? "no limit" : `${u.rate_limit_per_minute} requests/min`],
    ["Instances", `${u.instances_used} of ${unlimited(u.instances_limit)}`],
  ]);
}

async function loadInstances() {
  const search = $("search-name").value.trim().toLowerCase();
  const page = await api("GET", `/v1/instances?limit=100&offset=${state.offset}&sort=name&order=asc`);
  state.total = page.total;
  const items = page.items.filter((i) => !search || i.name.toLowerCase().includes(search)).slice(0, PAGE);
  fill("instance-rows", items.map((i) => row([
    button(i.name, () => openInstance(i.id), `Open ${i.name}`), i.cycle_count, i.stress_level, num(i.energy_level),
    button("Delete", () => deleteInstance(i), `Delete ${i.name}`),
  ])));
  $("page-info").textContent = `${state.offset + 1}–${Math.min(state.offset + 100, page.total)} of ${page.total}`;
  $("prev-page").disabled = state.offset === 0; $("next-page").disabled = !page.has_more;
}

async function loadPersonas() {
  const { personas } = await api("GET", "/v1/personas");
  fill("create-persona", [el("option", "none", { value: "" }), ...personas.map((p) => el("option", p.name, { value: p.id }))]);
}

async function deleteInstance(i) {
  if (!window.confirm(`Delete ${i.name} and its whole history?`)) return;
  try {
    await api("DELETE", `/v1/instances/${i.id}`);
    if (state.current === i.id) closeInstance();
    await loadInstances(); loadUsage(); status(`Deleted ${i.name}.`);
  } catch (error) { status(explain(error), true); }
}

function closeInstance() {
  state.current = null; $("instance-view").hidden = true;
  if (state.stream) state.stream.abort();
}

async function openInstance(id) {
  closeInstance();
  state.current = id; $("instance-view").hidden = false;
  await refresh();
  follow(id);
  $("instance-title").focus?.();
}

async function refresh() {
  const id = state.current; if (!id) return;
  try {
    const [inst, snap, contract, trajectory, history, drift] = await Promise.all([
      api("GET", `/v1/instances/${id}`), api("GET", `/v1/instances/${id}/snapshot`), api("GET", `/v1/instances/${id}/contract`),
      api("GET", `/v1/instances/${id}/trajectory?limit=1000`), api("GET", `/v1/instances/${id}/history?limit=20`),
      api("GET", `/v1/instances/${id}/drift?limit=20`),
    ]);
    if (id !== state.current) return;
    $("instance-title").textContent = `Instance ${inst.name}`;
    pairs("snapshot", [
      ...MODES.map((m) => [m, num(snap.mode_strengths[m])]),
      ["Stress level", snap.stress_level, { id: "stress-level" }], ["Energy", num(snap.energy_level)],
      ["Stability", num(snap.stability_index)], ["Dominant mode", contract.memory_context.dominant_mode || "—"],
      ["Persona match", [snap.persona_primary, snap.persona_secondary].filter(Boolean).join(", ") || "none"],
      ["Cycles", snap.cycle_count], ["Version", snap.version],
    ]);
    pairs("contract", [
      ["Allowed actions", contract.allowed_actions.join(", "), { id: "allowed-actions" }],
      ["Forbidden actions", contract.forbidden_actions.join(", "), { id: "forbidden-actions" }],
      ["Decision style", Object.entries(contract.decision_style).map(([k, v]) => `${k} ${v}`).join(", ")],
      ["Pause / escalate", `${contract.should_pause ? "pause" : "no pause"} / ${contract.should_escalate ? "escalate" : "no escalation"}`],
      ["Max steps", contract.max_steps_remaining ?? "no limit"], ["Narrative", contract.narrative_prompt],
    ]);
    charts(trajectory.items.slice().reverse());
    fill("history", history.items.map((h) => row([h.cycle_number, h.mode_target, num(h.signal_strength, 2), h.timestamp])));
    fill("drift", drift.items.map((d) => row([d.cycle_number, d.level, num(d.magnitude), d.rolled_back ? "yes" : "no"])));
  } catch (error) { status(explain(error), true); }
}

// Charts: small SVG line charts (one polyline per series), each with the
// latest values as text for screen readers and a data-points count.
function chart(name, title, points, series, min, max, marks = []) {
  const W = 340, H = 150, P = 22, n = points.length;
  const x = (i) => P + (n <= 1 ? 0 : (i * (W - 2 * P)) / (n - 1));
  const y = (v) => H - P - ((v - min) * (H - 2 * P)) / (max - min);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const latest = series.map((s) => `${s.label} ${num(s.value(points[n - 1] || {}))}`).join(", ");
  for (const [k, v] of Object.entries({ viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "data-chart": name, "data-points": n, "aria-label": `${title}: ${n} cycles; latest ${latest}` })) svg.setAttribute(k, v);
  const line = (x1, y1, x2, y2, cls, color) => { const l = document.createElementNS(ns, "line"); for (const [k, v] of Object.entries({ x1, y1, x2, y2, class: cls })) l.setAttribute(k, v); if (color) l.setAttribute("stroke", color); svg.append(l); };
  line(P, y(min), W - P, y(min), "axis"); line(P, y(max), P, y(min), "axis");
  for (const v of [min, max]) { const t = document.createElementNS(ns, "text"); t.setAttribute("x", 0); t.setAttribute("y", y(v) + 3); t.textContent = v; svg.append(t); }
  for (const m of marks) { const i = points.indexOf(m.point); if (i >= 0) line(x(i), y(max), x(i), y(min), "mark", m.color); }
  for (const s of series) {
    const poly = document.createElementNS(ns, "polyline");
    poly.setAttribute("fill", "none"); poly.setAttribute("stroke", s.color); poly.setAttribute("stroke-width", "1.5");
    poly.setAttribute("points", points.map((p, i) => `${x(i).toFixed(1)},${y(s.value(p) ?? min).toFixed(1)}`).join(" "));
    svg.append(poly);
  }
  const figure = el("figure"); const caption = el("figcaption", `${title} — latest: ${n ? latest : "no cycles yet"}`);
  const legend = el("p", "", { class: "legend" });
  for (const s of series) { const span = el("span", `■ ${s.label}`); span.style.color = s.color; legend.append(span); }
  figure.append(svg, caption, legend);
  return figure;
}

function charts(points) {
  const driftMarks = points.filter((p) => p.drift && (p.drift.level !== "D0_noise" || p.drift.rolled_back)).map((p) => ({
    point: p, color: p.drift.rolled_back ? "#000000" : { D1_context: "#e6b400", D2_adaptive: "#ff7f0e", D3_corrupt: "#d62728" }[p.drift.level] }));
  fill("charts", [
    chart("energy", "Energy", points, [{ label: "energy", color: COLORS[1], value: (p) => p.energy_level }], 0, 1),
    chart("stability", "Stability", points, [{ label: "stability", color: COLORS[0], value: (p) => p.stability_index }], 0, 1),
    chart("stress", "Stress level (0 LOW … 3 OVER)", points, [{ label: "stress", color: COLORS[3], value: (p) => STRESS[p.stress_level] }], 0, 3),
    chart("modes", "Mode strengths", points, MODES.map((m, i) => ({ label: m, color: COLORS[i], value: (p) => p.mode_strengths && p.mode_strengths[m] })), -1, 1),
    chart("drift", "Drift magnitude (marks: D1 yellow, D2 orange, D3 red, rollback black)", points, [{ label: "drift", color: COLORS[6], value: (p) => (p.drift ? p.drift.magnitude : 0) }], 0, 1, driftMarks),
  ]);
}

// Live updates: one fetch-read SSE stream per open instance; reconnects
// with Last-Event-ID and reloads when it missed something.
async function follow(id) {
  const controller = new AbortController(); state.stream = controller;
  let lastId = null, timer = null;
  const schedule = () => { clearTimeout(timer); timer = setTimeout(refresh, 150); };
  while (!controller.signal.aborted && state.current === id) {
    try {
      const headers = { Authorization: `Bearer ${state.key}` };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await fetch(`/v1/instances/${id}/events`, { headers, signal: controller.signal });
      if (!response.ok) throw new ApiError(response.status, await response.json(), response.headers.get("Retry-After"));
      $("live").textContent = "Live updates: on";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read(); if (done) break;
        buffer += value; let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
          const name = (block.match(/^event: ?(.*)$/m) || [])[1]; const eid = (block.match(/^id: ?(.*)$/m) || [])[1];
          const data = JSON.parse((block.match(/^data: ?(.*)$/m) || [, "null"])[1]);
          if (eid) lastId = eid;
          if (name === "ready" && data.missed) schedule();
          if (["observation", "reset", "updated", "lagged"].includes(name)) { schedule(); loadInstances(); }
          if (name === "deleted") { closeInstance(); loadInstances(); status("The instance was deleted."); return; }
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      $("live").textContent = `Live updates: reconnecting (${explain(error)})`;
      await new Promise((r) => setTimeout(r, error.retryAfter ? error.retryAfter * 1000 : 2000));
    }
  }
}

// The playground's own clock per instance: one second apart from now, so
// rapid sends pass the instance's throttle.
function nextTimestamp(id) {
  const t = Math.max(Date.now(), (state.clocks[id] || 0) + 1000);
  state.clocks[id] = t;
  return new Date(t).toISOString();
}

async function run(steps) {
  const id = state.current; if (!id || state.busy) return;
  state.busy = true; const result = $("playground-result"); result.className = ""; result.textContent = "";
  const progress = $("progress"); progress.max = steps.length; progress.value = 0;
  let context = {};
  try { const text = $("pg-context").value.trim(); if (text) context = JSON.parse(text); } catch { result.className = "error"; result.textContent = "Context must be a JSON object."; state.busy = false; return; }
  try {
    for (let i = 0; i < steps.length; i++) {
      const body = { ...steps[i], context, timestamp: nextTimestamp(id) };
      for (;;) {
        try { await api("POST", `/v1/instances/${id}/process`, body); break; } catch (error) {
          if (error.code === "rate_limited" && error.retryAfter) {
            result.textContent = `${explain(error)} Waiting, then continuing (${i} of ${steps.length} sent).`;
            await new Promise((r) => setTimeout(r, error.retryAfter * 1000));
            continue;
          }
          throw error;
        }
      }
      progress.value = i + 1;
    }
    result.textContent = `Sent ${steps.length} observation${steps.length === 1 ? "" : "s"}.`;
  } catch (error) { result.className = "error"; result.textContent = explain(error); }
  state.busy = false;
  await refresh(); loadInstances(); loadUsage();
}

const repeat = (n, mode, strength) => Array.from({ length: n }, () => ({ mode_target: mode, signal_strength: strength, confidence: 1 }));
const SCENARIOS = {
  normal: () => repeat(5, "exploration", 0.5),
  stress: () => repeat(10, "stress_response", 0.95),
  recovery: () => [...repeat(15, "stress_response", 0.95), ...repeat(20, "exploration", 0.1)],
};

async function loadKeys() {
  const { items } = await api("GET", "/v1/keys");
  fill("key-rows", items.map((k) => row([k.prefix + "…", k.created_at, k.last_used_at || "never", k.revoked_at || "active",
    k.revoked_at ? "" : button("Revoke", () => revokeKey(k), `Revoke key ${k.prefix}`)])));
}
async function revokeKey(k) {
  if (!window.confirm(`Revoke key ${k.prefix}…? Programs using it stop working at once.`)) return;
  try { await api("DELETE", `/v1/keys/${k.id}`); await loadKeys(); status(`Revoked ${k.prefix}….`); } catch (error) { status(explain(error), true); }
}

function wire() {
  $("sign-in").addEventListener("submit", (e) => { e.preventDefault(); signIn($("api-key").value.trim()); $("api-key").value = ""; });
  $("sign-out").addEventListener("click", () => { sessionStorage.removeItem("idos_key"); location.reload(); });
  $("search").addEventListener("submit", (e) => { e.preventDefault(); loadInstances().catch((x) => status(explain(x), true)); });
  $("prev-page").addEventListener("click", () => { state.offset = Math.max(0, state.offset - 100); loadInstances(); });
  $("next-page").addEventListener("click", () => { state.offset += 100; loadInstances(); });
  $("create").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { name: $("create-name").value, description: $("create-description").value };
    if ($("create-persona").value) body.initial_config = { persona_id: $("create-persona").value };
    try { const inst = await api("POST", "/v1/instances", body); $("create-name").value = ""; await loadInstances(); loadUsage(); await openInstance(inst.id); status(`Created ${inst.name}.`); }
    catch (error) { status(explain(error), true); }
  });
  fill("pg-mode", MODES.map((m) => el("option", m, { value: m })));
  for (const b of document.querySelectorAll("[data-send]")) b.addEventListener("click", () =>
    run(repeat(Number(b.dataset.send), $("pg-mode").value, Number($("pg-strength").value)).map((s) => ({ ...s, confidence: Number($("pg-confidence").value) }))));
  for (const b of document.querySelectorAll("[data-scenario]")) b.addEventListener("click", () => run(SCENARIOS[b.dataset.scenario]()));
  $("reset").addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await api("POST", `/v1/instances/${state.current}/reset`, { mode: $("reset-mode").value }); delete state.clocks[state.current]; await refresh(); status("Reset."); }
    catch (error) { status(explain(error), true); }
  });
  $("create-key").addEventListener("click", async () => {
    try { const k = await api("POST", "/v1/keys"); $("new-key").textContent = `New key (shown only now, copy it): ${k.key}`; await loadKeys(); }
    catch (error) { status(explain(error), true); }
  });
  if (state.key) signIn(state.key);
}
document.addEventListener("DOMContentLoaded", wire);
