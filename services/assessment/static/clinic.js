// The clinician's workspace: worklist and case record over the clinician JSON API.
// The session is an HttpOnly cookie; every change carries the session's CSRF token
// (GET /staff/session). Data is only ever put in the page as text (never as HTML).
"use strict";
const $ = (sel) => document.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";
const OUTCOMES = JSON.parse(document.body.dataset.outcomes || "[]");

const TEXT = {
  en: {
    title: "Clinic", totp: "Authenticator app", signout: "Sign out", tasks: "Open escalation tasks: mine and unowned",
    case: "Case", task: "Task", owner: "Owner", due: "Due", state: "State", queue: "Triage queue",
    band: "Band", score: "Score", escalated: "Escalated", referred: "Referred", target: "Target date",
    reviews: "Cases awaiting review", record: "Case record", openTasks: "Open tasks on this case",
    scores: "Instruments and scores over time", history: "Triage history", factors: "Factors",
    rules: "Rules", audit: "Who / why", overrides: "Overrides", contacts: "Family contacts", showContacts: "Show (logged)",
    reasonHint: "why you need them (written to the access log)", action: "Action",
    signedInAs: "Signed in as", open: "Open", acknowledge: "Acknowledge", takeOn: "Take on", complete: "Complete",
    outcome: "outcome…", note: "note (no names)", overdue: "overdue", yes: "yes", none: "None.",
    noScores: "No instrument scored yet.", loaded: "Worklist loaded.", acknowledged: "Task acknowledged.",
    completed: "Task completed.", pickOutcome: "Choose an outcome first.", overriddenBy: "overridden by",
    awaiting: "awaiting co-signature", requested: "requested", accepted: "acknowledged",
    noTasks: "No open task.", reviewFlag: "needs review", plotOf: "Scores of",
  },
  "zh-CN": {
    title: "诊室", totp: "身份验证器", signout: "退出", tasks: "待处理升级任务：我的及无人负责的",
    case: "病例", task: "任务", owner: "负责人", due: "截止", state: "状态", queue: "分诊队列",
    band: "等级", score: "分数", escalated: "已升级", referred: "转介日期", target: "目标日期",
    reviews: "待复核病例", record: "病例记录", openTasks: "本病例的待处理任务",
    scores: "量表分数随时间变化", history: "分诊历史", factors: "因素",
    rules: "规则", audit: "操作人 / 原因", overrides: "人工调整", contacts: "家庭联系方式", showContacts: "查看（将记录）",
    reasonHint: "查看原因（写入访问日志）", action: "操作",
    signedInAs: "当前登录", open: "打开", acknowledge: "确认", takeOn: "接手", complete: "完成",
    outcome: "结果…", note: "备注（不写姓名）", overdue: "已逾期", yes: "是", none: "无。",
    noScores: "尚无量表评分。", loaded: "工作列表已加载。", acknowledged: "任务已确认。",
    completed: "任务已完成。", pickOutcome: "请先选择结果。", overriddenBy: "调整人",
    awaiting: "等待共同签署", requested: "待处理", accepted: "已确认",
    noTasks: "没有待处理任务。", reviewFlag: "需复核", plotOf: "分数：",
  },
};
const asked = new URLSearchParams(location.search).get("lang");
const lang = TEXT[asked] ? asked : (navigator.language || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
const t = (key) => TEXT[lang][key] || TEXT.en[key] || key;
const when = (iso) => (iso ? new Date(iso).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" }) : "");

let csrf = "";
let myTasks = [];  // open tasks of mine (FHIR Task resources), soonest due first
let currentCase = null;
const QUEUE_PAGE = 50;  // the head of the queue; the rest is a page away (escalated cases come first)

function say(text, kind) { const s = $("#status"); s.textContent = text; s.className = kind || ""; }

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options, cache: "no-store", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const e = body.error || {};
    const error = new Error(`${response.status}: ${e.message || response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text != null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function fill(table, rows, cells) {
  const body = $(table + " tbody"); body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const value of cells(row, tr)) {
      const td = document.createElement("td");
      if (value instanceof Node) td.append(value); else td.textContent = value == null ? "" : String(value);
      tr.append(td);
    }
    body.append(tr);
  }
  if (!rows.length) { const tr = el("tr"); tr.append(el("td", t("none"), { colspan: "9", class: "muted" })); body.append(tr); }
}

const caseOf = (task) => task.focus.reference.replace(/^Case\//, "");
const dueOf = (task) => task.restriction.period.end;
const isOverdue = (task) => task.status !== "completed" && new Date(dueOf(task)) < new Date();

function openButton(caseId) {
  const b = el("button", `${t("open")} ${caseId}`, { type: "button", class: "open", "data-case": caseId });
  b.onclick = () => openCase(caseId).catch((err) => say(err.message, "error"));
  return b;
}

function dueCell(task) {
  const span = el("span", when(dueOf(task)));
  if (isOverdue(task)) { span.className = "overdue"; span.append(` (${t("overdue")})`); }
  return span;
}

async function loadTasks() {
  // Mine, and those nobody owns (a hospital without anyone on call): any clinician may take one on.
  const lists = await Promise.all([
    api("/v1/tasks?state=requested"), api("/v1/tasks?state=acknowledged"),
    api("/v1/tasks?state=requested&owner=unowned"),
  ]);
  myTasks = lists.flatMap((list) => list.items).sort((a, b) => dueOf(a).localeCompare(dueOf(b)));
  fill("#tasks", myTasks, (task, tr) => {
    tr.dataset.task = task.id;
    if (isOverdue(task)) tr.className = "overdue";
    return [openButton(caseOf(task)), task.code.text, ownerOf(task),
      dueCell(task), t(task.status)];
  });
}

async function loadQueue() {
  const data = await api(`/v1/triage/queue?limit=${QUEUE_PAGE}`);
  $("#queue-count").textContent = data.total > data.items.length ? `(${data.items.length} / ${data.total})` : "";
  fill("#queue", data.items, (c, tr) => {
    tr.dataset.case = c.case_id;
    tr.className = [c.escalated ? "escalated" : "", c.needs_review ? "review" : ""].join(" ").trim();
    const flag = c.escalated ? el("span", t("escalated"), { class: "badge" }) : "";
    return [openButton(c.case_id), c.band, c.score, flag, c.referred_on, c.target_date];
  });
}

async function loadReviews() {
  const data = await api("/v1/triage/reviews?limit=50");
  fill("#reviews", data.items, (c) => [openButton(c.case_id), c.band, c.score, c.referred_on]);
}

async function refresh() {
  await Promise.all([loadTasks(), loadQueue(), loadReviews()]);
  if (currentCase) await openCase(currentCase, false);
}

// --- the case record --------------------------------------------------------------------------

const ownerOf = (task) => task.owner.reference.replace(/^Practitioner\//, "");

function taskActions(task) {
  const box = el("span");
  const unowned = ownerOf(task) === "unowned";  // acknowledging takes it on; then it is mine to complete
  if (task.status === "requested") {
    const ack = el("button", t(unowned ? "takeOn" : "acknowledge"), { type: "button", class: "ack" });
    ack.onclick = () => act(() => api(`/v1/tasks/${encodeURIComponent(task.id)}/acknowledge`, { method: "POST", body: "{}" }), t("acknowledged"));
    box.append(ack, " ");
  }
  if (unowned) return box;
  const form = el("form", null, { class: "complete-form" });
  const select = el("select", null, { name: "outcome", class: "outcome" });
  select.append(el("option", t("outcome"), { value: "" }));
  for (const code of OUTCOMES) select.append(el("option", code.replaceAll("_", " "), { value: code }));
  const note = el("input", null, { name: "note", maxlength: "1000", placeholder: t("note") });
  form.append(select, note, el("button", t("complete"), { type: "submit", class: "complete" }));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    if (!select.value) { say(t("pickOutcome"), "error"); return; }
    const body = { outcome: select.value, ...(note.value.trim() ? { note: note.value.trim() } : {}) };
    act(() => api(`/v1/tasks/${encodeURIComponent(task.id)}/complete`, { method: "POST", body: JSON.stringify(body) }), t("completed"));
  };
  box.append(form);
  return box;
}

async function act(action, message) {
  try { await action(); await refresh(); say(message, "ok"); } catch (err) { say(err.message, "error"); }
}

function factorsText(version) {
  return (version.factors || []).map((f) => `${f.code}${f.value != null && f.value !== true ? "=" + JSON.stringify(f.value) : ""} (+${f.points})`).join(", ");
}

async function openCase(caseId, scroll = true) {
  currentCase = caseId;
  const path = `/v1/cases/${encodeURIComponent(caseId)}`;
  const [history, catalogue] = await Promise.all([api(`${path}/triage`), instrumentCatalogue()]);
  $("#case").hidden = false;
  $("#case-id").textContent = caseId;
  $("#case-status").textContent = [history.status, history.needs_review ? t("reviewFlag") : ""].filter(Boolean).join(" · ");
  const open = myTasks.filter((task) => caseOf(task) === caseId);
  fill("#case-tasks", open, (task, tr) => {
    tr.dataset.task = task.id;
    if (isOverdue(task)) tr.className = "overdue";
    return [task.code.text, dueCell(task), t(task.status), taskActions(task)];
  });
  fill("#triage", [...history.versions].reverse(), (v) => [
    v.version, v.band + (v.overridden ? " ✎" : ""), v.score, factorsText(v),
    [when(v.at), v.trigger, v.by, v.reason, v.cosigned_by ? `+ ${v.cosigned_by}` : ""].filter(Boolean).join(" · "),
    v.rule_version,
  ]);
  const overrides = $("#overrides"); overrides.replaceChildren();
  for (const o of history.override_audit || []) {
    const change = o.from_band ? ` ${o.from_band} → ${o.band}` : "";
    const said = o.reason || o.note || "";
    overrides.append(el("li", `${when(o.at)} — ${o.kind}${change} (${o.by}${o.requested_by ? ", " + o.requested_by : ""})${said ? ": " + said : ""}`));
  }
  if (history.pending_override) {
    const p = history.pending_override;
    overrides.append(el("li", `${t("awaiting")}: ${p.from_band} → ${p.band} (${p.by}): ${p.reason}`, { class: "review" }));
  }
  if (!overrides.children.length) overrides.append(el("li", t("none"), { class: "muted" }));
  await drawScores(caseId, catalogue);
  $("#contacts").textContent = "";
  if (scroll) $("#case").scrollIntoView();
}

let catalogueCache = null;
async function instrumentCatalogue() {
  if (!catalogueCache) catalogueCache = (await api("/v1/instruments")).items;
  return catalogueCache;
}

async function drawScores(caseId, catalogue) {
  const plots = $("#plots"); plots.replaceChildren();
  const path = `/v1/cases/${encodeURIComponent(caseId)}/instruments`;
  const found = await Promise.all(catalogue.map((i) =>
    api(`${path}/${encodeURIComponent(i.id)}/trajectory`).catch(() => null)));
  const scored = found.filter((tr) => tr && tr.points.length);
  if (!scored.length) { plots.append(el("p", t("noScores"), { class: "muted", id: "no-scores" })); return; }
  for (const trajectory of scored) plots.append(plot(trajectory));
}

const COLOURS = ["#1f5fbf", "#b00020", "#11703a", "#8a4fbf", "#c77700", "#2a8a8a"];

function plot(trajectory) {
  // One line per (scale, informant), x = when it was scored, y = the score (0 at the bottom).
  const W = 560, H = 220, L = 44, R = 12, T = 24, B = 34;
  const series = new Map();
  for (const p of trajectory.points) {
    for (const [scale, value] of Object.entries(p.scores)) {
      const key = `${scale} · ${p.informant}`;
      if (!series.has(key)) series.set(key, []);
      series.get(key).push({ at: new Date(p.at).getTime(), value: Number(value), n: p.n, band: (p.bands || {})[scale] });
    }
  }
  const all = [...series.values()].flat();
  let t0 = Math.min(...all.map((p) => p.at)), t1 = Math.max(...all.map((p) => p.at));
  if (t0 === t1) { t0 -= 86400000; t1 += 86400000; }
  const top = Math.max(1, ...all.map((p) => p.value)) * 1.1;
  const x = (at) => L + ((at - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => H - B - (v / top) * (H - T - B);
  const svg = document.createElementNS(SVG, "svg");
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text != null) node.textContent = String(text);
    svg.append(node); return node;
  };
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("width", W); svg.setAttribute("height", H);
  svg.setAttribute("role", "img"); svg.setAttribute("class", "score-plot");
  svg.dataset.instrument = trajectory.instrument;
  add("title", {}, `${t("plotOf")} ${trajectory.instrument}`);
  add("text", { x: L, y: 15, "font-weight": "600" }, trajectory.instrument);
  add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#889" });
  add("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#889" });
  for (let i = 0; i <= 4; i++) {
    const v = (top / 1.1) * (i / 4);
    add("line", { x1: L - 3, y1: y(v), x2: W - R, y2: y(v), stroke: "#e3e5ee" });
    add("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, Math.round(v));
  }
  add("text", { x: x(t0), y: H - B + 16, "text-anchor": "start" }, new Date(t0).toLocaleDateString(lang));
  add("text", { x: x(t1), y: H - B + 16, "text-anchor": "end" }, new Date(t1).toLocaleDateString(lang));
  let i = 0;
  for (const [key, points] of series) {
    const colour = COLOURS[i++ % COLOURS.length];
    points.sort((a, b) => a.at - b.at);
    add("polyline", { points: points.map((p) => `${x(p.at)},${y(p.value)}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2, class: "series" });
    for (const p of points) {
      const dot = add("circle", { cx: x(p.at), cy: y(p.value), r: 4, fill: colour, class: "point" });
      const tip = document.createElementNS(SVG, "title");
      tip.textContent = `${key}: ${p.value}${p.band ? " (" + p.band + ")" : ""} — ${new Date(p.at).toLocaleString(lang)}`;
      dot.append(tip);
    }
    add("text", { x: W - R - 4, y: T + 14 * i, "text-anchor": "end", fill: colour }, key);
  }
  return svg;
}

// --- start ----------------------------------------------------------------------------------

$("#contacts-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const reason = new FormData(ev.target).get("reason");
  try {
    const found = await api(`/v1/cases/${encodeURIComponent(currentCase)}/contacts?reason=${encodeURIComponent(reason)}`);
    $("#contacts").textContent = JSON.stringify(found, null, 2);
  } catch (err) { say(err.message, "error"); }
};

function translate() {
  document.documentElement.lang = lang;
  document.title = `Waymark — ${t("title")}`;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll("[data-t-placeholder]")) node.placeholder = t(node.dataset.tPlaceholder);
}

async function start() {
  translate();
  const response = await fetch("/staff/session", { cache: "no-store" });
  if (!response.ok) { location.assign("/staff/sign-in?next=" + encodeURIComponent(location.pathname + location.search)); return; }
  const me = await response.json();
  csrf = me.csrf_token || "";
  $('#signout input[name="csrf_token"]').value = csrf;
  $("#who").textContent = `${t("signedInAs")} ${me.username} (${me.role}, ${me.hospitals.join(", ")}) `;
  try { await refresh(); say(t("loaded"), "ok"); } catch (err) { say(err.message, "error"); }
}
start();
