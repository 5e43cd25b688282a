// pv web page: reads /api/ and /chart/, never writes.  Live values arrive as server-sent
// events (/api/stream); if the stream cannot be had, the page polls /api/overview instead.
// Every text from the server is inserted as text (textContent), never as HTML; the charts
// are SVG documents drawn by the server, parsed as XML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { overview: null, pollTimer: null, source: null, todayChartAt: 0, eventsBefore: null, view: "now" };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  if (!r.ok) {
    let why = r.status + " " + r.statusText;
    try { why = (await r.json()).error || why; } catch (e) { /* not JSON */ }
    throw new Error(why);
  }
  return r.json();
}

async function loadSVG(figure, url) {
  // drawn for the figure's own width, so chart text keeps its size on a phone
  const width = Math.round(figure.clientWidth || document.documentElement.clientWidth);
  url += (url.includes("?") ? "&" : "?") + "width=" + Math.max(300, Math.min(1600, width));
  const r = await fetch(url);
  if (!r.ok) throw new Error("chart: " + r.status);
  const doc = new DOMParser().parseFromString(await r.text(), "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") throw new Error("chart: not SVG");
  // ids inside each chart must stay unique on the page (title/desc are referenced by aria-labelledby)
  const prefix = figure.id + "-";
  for (const n of svg.querySelectorAll("[id]")) n.id = prefix + n.id;
  svg.setAttribute("aria-labelledby", prefix + "t " + prefix + "d");
  figure.replaceChildren(document.importNode(svg, true));
}

function setStatus(text) { $("status").textContent = text; }

// -- the "Now" view -------------------------------------------------------------------------------

function card(inv) {
  const byId = Object.fromEntries(inv.values.map((v) => [v.id, v]));
  const awake = inv.state === "awake";
  const main = el("dl", { class: "main" });
  const mainIds = [["pac", "Power"], ["e_today", "E-Today"], ["e_total", "E-Total"]];
  for (const [id, label] of mainIds) {
    const v = byId[id];
    let text = v ? v.text : "–";
    if (id === "pac" && !awake) text = "–";
    if (id === "e_today" && !inv.today) text = "–";
    main.append(el("div", {}, el("dt", { text: label }), el("dd", { "data-q": id, text })));
  }
  const more = el("dl", { class: "more" });
  for (const v of inv.values) {
    if (mainIds.some(([id]) => id === v.id)) continue;
    more.append(el("dt", { text: v.label }), el("dd", { "data-q": v.id, text: v.text + (v.refused ? " (refused)" : "") }));
  }
  const when = inv.last_reading_local ? "last reading " + inv.last_reading_local : "no reading yet";
  const since = inv.state_since_local && !awake ? " · " + inv.state + " since " + inv.state_since_local : "";
  const faults = inv.faults.length
    ? el("p", { class: "faults bad", "data-q": "faults", text: "Faults: " + inv.faults.join("; ") })
    : el("p", { class: "faults", "data-q": "faults", text: "No faults" });
  const title = inv.name || inv.serial;
  return el(
    "article",
    { class: "card state-" + inv.state, "data-serial": inv.serial, "aria-label": "Inverter " + title },
    el("h3", {}, title + " ", inv.name ? el("span", { class: "serial", text: inv.serial }) : null),
    el("p", { class: "model", text: [inv.manufacturer, inv.model].filter(Boolean).join(" ") || inv.spec }),
    el("p", {}, el("span", { class: "badge", "data-q": "state", text: inv.state }), " ",
      el("span", { class: "when", "data-q": "last", text: when + since })),
    main,
    el("p", { class: "mode", "data-q": "mode", text: "Mode: " + (inv.mode || "–") }),
    faults,
    inv.values.length > 3 ? el("details", {}, el("summary", { text: "All values" }), more) : null,
  );
}

function renderOverview(ov) {
  state.overview = ov;
  document.title = ov.site.title + " – " + ov.totals.pac.text;
  $("title").textContent = ov.site.title;
  $("totals").replaceChildren(
    el("span", {}, "Power now ", el("strong", { id: "total-pac", text: ov.totals.pac.text })),
    el("span", {}, "Today ", el("strong", { id: "total-today", text: ov.totals.e_today.text })),
  );
  $("cards").replaceChildren(...ov.inverters.map(card));
  const waiting = ov.waiting.map((w) => (w.name || w.serial || "an inverter") + " on " + w.port);
  $("waiting").replaceChildren(
    waiting.length ? el("p", { class: "when", text: "Not heard from yet: " + waiting.join(", ") }) : "",
  );
  const m = ov.monitor;
  const health = m.healthy === false ? "monitor unhealthy" : "monitor running";
  setStatus(health + " · updated " + ov.site.now_local.slice(11) + " (" + ov.site.timezone + ")" + (ov.site.demo ? " · demo" : ""));
  $("foot").textContent = "pv " + ov.site.version + " · times in " + ov.site.timezone + " · monitor started " + (m.started_local || "?") +
    (m.readings_stored !== undefined ? " · " + m.readings_stored + " readings stored this run" : "");
  renderOutputs(ov);
  if (!$("day").value) initPickers(ov.site.today);
  // the day chart has 120 s buckets: nothing new to draw sooner than that (or one poll interval)
  const interval = Math.max(120, ov.site.poll_interval) * 1000;
  if (state.view === "now" && Date.now() - state.todayChartAt >= interval) refreshTodayChart();
}

async function refreshTodayChart() {
  state.todayChartAt = Date.now();
  try { await loadSVG($("today-chart"), "/chart/day.svg"); } catch (e) { setStatus(e.message); }
}

function renderOutputs(ov) {
  const parts = [];
  if (ov.pvoutput.configured) {
    if (!ov.pvoutput.systems.length) parts.push(el("p", { text: "PVOutput: nothing queued yet" }));
    for (const s of ov.pvoutput.systems) {
      let text = "PVOutput system " + s.system + ": " + s.pending + " pending, " + s.sent + " sent, " + s.rejected + " refused";
      if (s.oldest_pending) text += " · oldest pending " + new Date(s.oldest_pending).toLocaleString();
      parts.push(el("p", { "data-system": s.system, text }));
    }
  } else {
    parts.push(el("p", { text: "PVOutput: not configured" }));
  }
  if (ov.mqtt.configured) {
    const c = ov.mqtt.connected === null ? "state unknown" : ov.mqtt.connected ? "connected" : "not connected";
    parts.push(el("p", { id: "mqtt-state", text: "MQTT broker " + (ov.mqtt.broker || "") + ": " + c +
      (ov.mqtt.backlog ? ", " + ov.mqtt.backlog + " waiting" : "") }));
  } else {
    parts.push(el("p", { id: "mqtt-state", text: "MQTT: not configured" }));
  }
  $("outputs").replaceChildren(...parts);
}

// -- live updates ---------------------------------------------------------------------------------

function startLive() {
  if (window.EventSource) {
    const src = new EventSource("/api/stream");
    state.source = src;
    src.addEventListener("overview", (ev) => {
      stopPolling();
      renderOverview(JSON.parse(ev.data));
    });
    src.onerror = () => {
      if (src.readyState === EventSource.CLOSED) { state.source = null; startPolling(); }
      else setStatus("reconnecting…");
    };
  } else {
    startPolling();
  }
}

function startPolling() {
  if (state.pollTimer) return;
  const tick = async () => {
    try { renderOverview(await getJSON("/api/overview")); } catch (e) { setStatus("cannot reach the monitor: " + e.message); }
    const every = state.overview ? Math.min(60, Math.max(5, state.overview.site.poll_interval)) : 10;
    state.pollTimer = setTimeout(tick, every * 1000);
  };
  tick();
}

function stopPolling() {
  if (state.pollTimer) { clearTimeout(state.pollTimer); state.pollTimer = null; }
}

// -- the "History" view ---------------------------------------------------------------------------

function initPickers(today) {
  $("day").value = today;
  $("day").max = today;
  $("month").value = today.slice(0, 7);
  $("month").max = today.slice(0, 7);
  $("year").value = today.slice(0, 4);
  $("year").max = today.slice(0, 4);
}

function shiftDay(text, n) {
  const d = new Date(text + "T12:00:00Z");
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function shiftMonth(text, n) {
  let y = Number(text.slice(0, 4)), m = Number(text.slice(5, 7)) - 1 + n;
  y += Math.floor(m / 12); m = ((m % 12) + 12) % 12;
  return String(y).padStart(4, "0") + "-" + String(m + 1).padStart(2, "0");
}

function fmtKWh(v) { return v === null || v === undefined ? "–" : v.toFixed(1) + " kWh"; }

async function showDay() {
  const day = $("day").value;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return;
  $("day-csv").href = "/api/export.csv?date=" + day;
  $("day-next").disabled = day >= $("day").max;
  try {
    const [data] = await Promise.all([getJSON("/api/day?date=" + day), loadSVG($("day-chart"), "/chart/day.svg?date=" + day)]);
    $("day-caption").textContent = data.date;
    const rows = data.series.length || Object.keys(data.energy_kwh).length
      ? Object.entries(data.energy_kwh).map(([serial, kwh]) =>
        el("tr", { "data-serial": serial }, el("th", { scope: "row", text: (data.series.find((s) => s.serial === serial) || {}).label || serial }),
          el("td", { class: "num", text: fmtKWh(kwh) })))
      : [];
    rows.push(el("tr", { class: "total" }, el("th", { scope: "row", text: "Total" }),
      el("td", { class: "num", id: "day-total", text: fmtKWh(data.total_kwh) })));
    $("day-table").tBodies[0].replaceChildren(...rows);
  } catch (e) { setStatus(e.message); }
}

async function showMonth() {
  const month = $("month").value;
  if (!/^\d{4}-\d{2}$/.test(month)) return;
  $("month-csv").href = "/api/export.csv?month=" + month;
  $("month-next").disabled = month >= $("month").max;
  try {
    const [data] = await Promise.all([getJSON("/api/month?month=" + month), loadSVG($("month-chart"), "/chart/month.svg?month=" + month)]);
    $("month-total").textContent = "Total " + data.month + ": " + fmtKWh(data.total_kwh);
  } catch (e) { setStatus(e.message); }
}

async function showYear() {
  const year = $("year").value;
  if (!/^\d{4}$/.test(year)) return;
  $("year-csv").href = "/api/export.csv?year=" + year;
  $("year-next").disabled = Number(year) >= Number($("year").max);
  try {
    const [data] = await Promise.all([getJSON("/api/year?year=" + year), loadSVG($("year-chart"), "/chart/year.svg?year=" + year)]);
    $("year-total").textContent = "Total " + data.year + ": " + fmtKWh(data.total_kwh);
  } catch (e) { setStatus(e.message); }
}

async function showYears() {
  try {
    const data = await getJSON("/api/years");
    const head = el("tr", {}, el("th", { scope: "col", text: "Year" }),
      ...data.serials.map((s) => el("th", { scope: "col", class: "num", text: data.labels[s] || s })),
      el("th", { scope: "col", class: "num", text: "Total" }));
    $("years-table").tHead.replaceChildren(head);
    $("years-table").tBodies[0].replaceChildren(...data.years.map((y) =>
      el("tr", { "data-year": y.year }, el("th", { scope: "row", text: y.year }),
        ...data.serials.map((s) => el("td", { class: "num", text: fmtKWh(y.energy_kwh[s]) })),
        el("td", { class: "num", text: fmtKWh(y.total_kwh) }))));
  } catch (e) { setStatus(e.message); }
}

// -- the "Log" view -------------------------------------------------------------------------------

async function showEvents(more) {
  try {
    const q = more && state.eventsBefore ? "&before=" + state.eventsBefore : "";
    const data = await getJSON("/api/events?limit=100" + q);
    const items = data.events.map((e) => ({ local: e.local, who: e.serial || e.port, text: e.text, kind: e.kind, time: e.time }));
    if (!more) for (const u of data.uploads) items.push({ local: u.local, who: "PVOutput", text: u.text, kind: "upload", time: u.time });
    items.sort((a, b) => (a.time < b.time ? 1 : -1));
    const rows = items.map((e) => el("tr", { "data-kind": e.kind }, el("td", { text: e.local }), el("td", { text: e.who }), el("td", { text: e.text })));
    const body = $("events").tBodies[0];
    if (more) body.append(...rows); else body.replaceChildren(...rows);
    if (!rows.length && !more) body.append(el("tr", {}, el("td", { colspan: 3, text: "No events yet" })));
    state.eventsBefore = data.events.length ? data.events[data.events.length - 1].id : null;
    $("events-more").hidden = !data.more;
  } catch (e) { setStatus(e.message); }
}

// -- views ------------------------------------------------------------------------------------------

function showView() {
  const view = (location.hash || "#now").slice(1);
  state.view = ["now", "history", "log"].includes(view) ? view : "now";
  for (const v of ["now", "history", "log"]) {
    $("view-" + v).hidden = v !== state.view;
    const link = $("nav-" + v);
    if (v === state.view) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  if (state.view === "history") {
    if (!$("day").value && state.overview) initPickers(state.overview.site.today);
    showDay(); showMonth(); showYear(); showYears();
  } else if (state.view === "log") {
    showEvents(false);
  } else {
    refreshTodayChart();
  }
}

function wire() {
  const onDay = () => showDay();
  $("day").addEventListener("change", onDay);
  $("day-prev").addEventListener("click", () => { $("day").value = shiftDay($("day").value, -1); onDay(); });
  $("day-next").addEventListener("click", () => { $("day").value = shiftDay($("day").value, 1); onDay(); });
  $("month").addEventListener("change", () => showMonth());
  $("month-prev").addEventListener("click", () => { $("month").value = shiftMonth($("month").value, -1); showMonth(); });
  $("month-next").addEventListener("click", () => { $("month").value = shiftMonth($("month").value, 1); showMonth(); });
  $("year").addEventListener("change", () => showYear());
  $("year-prev").addEventListener("click", () => { $("year").value = Number($("year").value) - 1; showYear(); });
  $("year-next").addEventListener("click", () => { $("year").value = Number($("year").value) + 1; showYear(); });
  $("events-more").addEventListener("click", () => showEvents(true));
  window.addEventListener("hashchange", () => { showView(); $("main").focus(); });
}

document.addEventListener("DOMContentLoaded", async () => {
  wire();
  try { renderOverview(await getJSON("/api/overview")); } catch (e) { setStatus("cannot reach the monitor: " + e.message); }
  showView();
  startLive();
});
