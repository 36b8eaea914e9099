// Operator console: polls /api/overview every 5 s; rates come from the difference between polls.
"use strict";

const REFRESH_MS = 5000;
let previous = null;
let csrf = "";  // this session's CSRF token, sent with every change (the session is an HttpOnly cookie)

const el = (tag, attrs = {}, text = "") => {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
  if (text !== "") node.textContent = text;
  return node;
};
const num = (v) => (v === undefined || v === null ? "–" : Math.round(v).toLocaleString());

function renderServices(services, now) {
  const body = document.querySelector("#services tbody");
  body.replaceChildren();
  for (const s of services) {
    const m = s.metrics || {};
    const before = previous && previous.byName[s.name];
    let rate = "–";
    if (before) {
      const minutes = (now - previous.at) / 60000;
      const moved = (m.published || 0) + (m.consumed || 0) - (before.published || 0) - (before.consumed || 0);
      rate = minutes > 0 ? num(moved / minutes) : "–";
    }
    const status = !s.up ? "down" : s.ready ? "ready" : "not-ready";
    const checks = Object.entries(s.checks || {}).map(([k, v]) => `${k}: ${v}`).join(" · ");
    const row = el("tr", { "data-service": s.name });
    row.append(
      el("td", {}, s.name),
      el("td", { class: `status ${status}` }, status.replace("-", " ")),
      el("td", { class: "checks" }, checks || s.error || ""),
      el("td", { class: "num" }, num(m.published)),
      el("td", { class: "num" }, num(m.consumed)),
      el("td", { class: "num" }, rate),
      el("td", { class: "num" }, num(m.failed)),
      el("td", { class: "num" }, num(m.consumer_lag)),
      el("td", { class: "num" }, num(m.outbox_pending)),
      el("td", { class: "num" }, num(m.dead_letters)),
    );
    body.append(row);
  }
}

function pressureRows(pressure) {
  if (!pressure) return [];
  const rows = pressure.hospitals || pressure.rows || pressure.items || [];
  const flat = [];
  for (const h of rows) {
    const bands = h.bands || [h];
    for (const b of bands) {
      flat.push({
        hospital: h.hospital_name || h.name || h.hospital_id,
        band: b.band, waiting: b.waiting, capacity: b.capacity,
        wait: b.predicted_wait_days, breaches: b.projected_breaches, level: b.level || h.level || "normal",
      });
    }
  }
  return flat;
}

function renderPressure(pressure) {
  const rows = pressureRows(pressure);
  const empty = document.getElementById("pressure-empty");
  empty.textContent = pressure ? "No hospital has families waiting." : "No pressure report from the scheduling service.";
  empty.hidden = rows.length > 0;
  const body = document.querySelector("#pressure tbody");
  body.replaceChildren();
  for (const r of rows) {
    const row = el("tr");
    row.append(
      el("td", {}, r.hospital), el("td", {}, r.band || ""),
      el("td", { class: "num" }, num(r.waiting)), el("td", { class: "num" }, num(r.capacity)),
      el("td", { class: "num" }, num(r.wait)), el("td", { class: "num" }, num(r.breaches)),
      el("td", { class: `level-${r.level}` }, r.level),
    );
    body.append(row);
  }
  renderChart(rows);
}

function renderChart(rows) {
  const svg = document.getElementById("pressure-chart");
  const worst = {};
  for (const r of rows) worst[r.hospital] = Math.max(worst[r.hospital] || 0, r.wait || 0);
  const names = Object.keys(worst);
  const barH = 22, height = Math.max(40, names.length * (barH + 6) + 30), width = 380, left = 130;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("height", height);
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const max = Math.max(1, ...Object.values(worst));
  names.forEach((name, i) => {
    const y = 10 + i * (barH + 6);
    const w = ((width - left - 50) * worst[name]) / max;
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", 6); label.setAttribute("y", y + 15); label.textContent = name.slice(0, 18);
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", left); bar.setAttribute("y", y); bar.setAttribute("width", Math.max(1, w));
    bar.setAttribute("height", barH); bar.setAttribute("fill", worst[name] > 60 ? "#b3261e" : "#3867d6");
    const value = document.createElementNS(ns, "text");
    value.setAttribute("x", left + w + 4); value.setAttribute("y", y + 15); value.textContent = `${Math.round(worst[name])} d`;
    svg.append(label, bar, value);
  });
}

async function renderDeadLetters(services) {
  const box = document.getElementById("dlq");
  const groups = [];
  for (const s of services) {
    if (!s.metrics || !s.metrics.dead_letters) continue;
    const res = await fetch(`/api/dead-letters/${s.name}`);
    if (!res.ok) continue;
    groups.push(await res.json());
  }
  box.replaceChildren();
  if (!groups.length) { box.append(el("p", {}, "None.")); return; }
  for (const g of groups) {
    const div = el("div", { class: "dlq-group", "data-group": g.group });
    const button = el("button", { type: "button" }, "Replay");
    button.addEventListener("click", async () => {
      button.disabled = true;
      const res = await fetch(`/api/dead-letters/${g.group}/replay`, { method: "POST", headers: { "X-CSRF-Token": csrf } });
      const out = await res.json();
      button.textContent = `Replayed ${out.replayed}`;
    });
    div.append(el("strong", {}, `${g.group}: ${g.dead_letters.length}`), button);
    const list = el("ul");
    g.dead_letters.slice(-10).forEach((d) => list.append(el("li", {}, `${d.type} ${d.event_id} — ${d.reason}`)));
    div.append(list);
    box.append(div);
  }
}

function renderWarnings(warnings) {
  // Safety warnings (e.g. escalations nobody is on call for) are shown above everything else.
  const box = document.getElementById("warnings");
  box.replaceChildren(...warnings.map((w) => el("p", { class: "warning" }, w)));
  box.hidden = warnings.length === 0;
}

async function refresh() {
  try {
    const res = await fetch("/api/overview");
    if (res.status === 401) { window.location.assign("/"); return; }  // signed out or session expired
    const data = await res.json();
    const now = Date.now();
    renderWarnings(data.warnings || []);
    renderServices(data.services, now);
    renderPressure(data.pressure);
    await renderDeadLetters(data.services);
    previous = { at: now, byName: Object.fromEntries(data.services.map((s) => [s.name, s.metrics || {}])) };
    document.getElementById("refreshed").textContent = `updated ${new Date(now).toLocaleTimeString()}`;
  } catch (err) {
    document.getElementById("refreshed").textContent = `refresh failed: ${err}`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

async function start() {
  const res = await fetch("/staff/session", { cache: "no-store" });
  if (!res.ok) { window.location.assign("/"); return; }
  const me = await res.json();
  csrf = me.csrf_token || "";
  document.querySelector('#signout input[name="csrf_token"]').value = csrf;
  document.getElementById("who").textContent = `${me.username}`;
  refresh();
}

start();
