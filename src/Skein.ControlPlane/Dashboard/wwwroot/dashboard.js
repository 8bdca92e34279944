// Skein dashboard: plain DOM and SVG, no third-party code, served by skein-control from its own assembly.
// Pages (hash routes): #/ topology, #/services, #/workload/NS/NAME, #/service/NS/NAME, #/traces, #/trace/ID, #/config.
// Every page polls skein-control's read-only API; a page's timer stops when another page is shown.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const main = document.getElementById("main");
const statusLine = document.getElementById("status");
let timer = null;
let page = null;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path) {
  const response = await fetch(path, { cache: "no-store" });
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch { body = { error: text }; }
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function setStatus(text, error) {
  statusLine.textContent = text;
  statusLine.className = error ? "status error" : "status";
}

// ---- formatting -------------------------------------------------------------------------------------------
const fmt = {
  rps: v => v === null || v === undefined ? "-" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2),
  pct: v => v === null || v === undefined ? "-" : (v * 100).toFixed(v >= 0.9995 || v === 0 ? 0 : 1) + "%",
  ms: v => v === null || v === undefined ? "-" : v >= 1000 ? (v / 1000).toFixed(2) + "s" : v >= 10 ? v.toFixed(0) + "ms" : v.toFixed(1) + "ms",
  bytes: v => !v ? "-" : v >= 1048576 ? (v / 1048576).toFixed(1) + "MB/s" : v >= 1024 ? (v / 1024).toFixed(1) + "kB/s" : v.toFixed(0) + "B/s",
  time: iso => iso ? new Date(iso).toLocaleTimeString() : "-",
};

// Health from the success rate: the same thresholds as the CLI's colours.
function health(stats) {
  if (!stats || !stats.traffic) return "idle";
  if (stats.successRate === null || stats.successRate === undefined) return "ok"; // TCP only
  if (stats.successRate >= 0.99) return "ok";
  if (stats.successRate >= 0.95) return "warn";
  return "bad";
}

// ---- router -----------------------------------------------------------------------------------------------
const routes = [
  [/^#?\/?$/, () => topologyPage()],
  [/^#\/services$/, () => servicesPage()],
  [/^#\/(workload|service)\/([^/]+)\/([^/]+)$/, m => detailPage(m[1], decodeURIComponent(m[2]), decodeURIComponent(m[3]))],
  [/^#\/traces$/, () => tracesPage()],
  [/^#\/trace\/([0-9a-fA-F]+)$/, m => tracePage(m[1])],
  [/^#\/config$/, () => configPage()],
];

function route() {
  if (timer) clearInterval(timer);
  timer = null;
  const hash = location.hash || "#/";
  for (const [re, show] of routes) {
    const m = hash.match(re);
    if (m) {
      main.replaceChildren();
      page = show(m);
      const name = hash.startsWith("#/trace") ? "traces" : hash.startsWith("#/config") ? "config"
        : hash.startsWith("#/service") || hash.startsWith("#/workload") ? "services" : "topology";
      document.querySelectorAll("header nav a").forEach(a => a.classList.toggle("active", a.dataset.page === name));
      return;
    }
  }
  main.replaceChildren(h("div", { class: "empty" }, "No such page. ", h("a", { href: "#/" }, "Back to the topology")));
}

function every(ms, fn) {
  fn();
  timer = setInterval(fn, ms);
}

// ---- topology ---------------------------------------------------------------------------------------------
function topologyPage() {
  const windowSelect = h("select", { id: "window" },
    ["30s", "1m", "5m", "15m"].map(w => h("option", { value: w, selected: w === "1m" }, w)));
  const holder = h("div", { id: "topology" });
  main.append(
    h("div", { class: "toolbar" }, h("h2", {}, "Topology"), "rates over", windowSelect,
      h("div", { class: "legend" }, h("span", { class: "ok" }, "≥ 99% success"), h("span", { class: "warn" }, "≥ 95%"),
        h("span", { class: "bad" }, "< 95%"), h("span", { class: "idle" }, "no traffic"))),
    h("div", { class: "panel" }, holder));
  let layoutKey = null;
  let view = null;
  const refresh = async () => {
    try {
      const graph = await api(`/api/v1/telemetry/edges?window=${windowSelect.value}`);
      const key = graph.nodes.map(n => n.id).join("|") + "#" + graph.edges.map(e => e.source + ">" + e.target).join("|");
      if (key !== layoutKey) {
        layoutKey = key;
        view = drawTopology(holder, graph);
      }
      updateTopology(view, graph);
      setStatus(`${graph.source} · ${graph.nodes.length} nodes · ${graph.edges.length} edges · ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      setStatus(`topology: ${e.message}`, true);
    }
  };
  windowSelect.addEventListener("change", refresh);
  every(3000, refresh);
}

// Layered layout: ranks by longest path from the callers (cycles broken where a DFS finds a back edge), order in
// a rank by the mean position of the nodes it connects to (a few sweeps each way), then even spacing.
function layout(nodes, edges) {
  const ids = nodes.map(n => n.id);
  const out = new Map(ids.map(id => [id, []]));
  const inc = new Map(ids.map(id => [id, []]));
  for (const e of edges) {
    if (!out.has(e.source) || !out.has(e.target) || e.source === e.target) continue;
    out.get(e.source).push(e.target);
    inc.get(e.target).push(e.source);
  }
  // Drop back edges so the rest is acyclic.
  const state = new Map();
  const back = new Set();
  const visit = id => {
    state.set(id, 1);
    for (const t of out.get(id)) {
      if (state.get(t) === 1) back.add(id + ">" + t);
      else if (!state.get(t)) visit(t);
    }
    state.set(id, 2);
  };
  [...ids].sort((a, b) => inc.get(a).length - inc.get(b).length || a.localeCompare(b)).forEach(id => { if (!state.get(id)) visit(id); });
  const rank = new Map();
  const rankOf = (id, seen = new Set()) => {
    if (rank.has(id)) return rank.get(id);
    if (seen.has(id)) return 0;
    seen.add(id);
    let r = 0;
    for (const p of inc.get(id)) if (!back.has(p + ">" + id)) r = Math.max(r, rankOf(p, seen) + 1);
    rank.set(id, r);
    return r;
  };
  ids.forEach(id => rankOf(id));
  // Services with no callers sit just before the workloads behind them.
  for (const n of nodes) {
    if (n.kind === "service" && inc.get(n.id).length === 0 && out.get(n.id).length > 0) {
      const next = Math.min(...out.get(n.id).map(t => rank.get(t)));
      rank.set(n.id, Math.max(0, next - 1));
    }
  }
  const layers = [];
  for (const n of nodes) {
    const r = rank.get(n.id);
    (layers[r] ||= []).push(n.id);
  }
  const pos = new Map();
  layers.forEach(layer => layer.sort().forEach((id, i) => pos.set(id, i)));
  const mean = (list) => list.length ? list.reduce((a, id) => a + pos.get(id), 0) / list.length : null;
  for (let sweep = 0; sweep < 4; sweep++) {
    const order = sweep % 2 === 0 ? layers : [...layers].reverse();
    for (const layer of order) {
      if (!layer) continue;
      const score = new Map(layer.map(id => [id, mean(sweep % 2 === 0 ? inc.get(id) : out.get(id)) ?? pos.get(id)]));
      layer.sort((a, b) => score.get(a) - score.get(b) || a.localeCompare(b));
      layer.forEach((id, i) => pos.set(id, i));
    }
  }
  const colW = 250, rowH = 84, nodeW = 170, nodeH = 48, margin = 30;
  const tallest = Math.max(1, ...layers.map(l => l ? l.length : 0));
  const height = margin * 2 + tallest * rowH;
  const coords = new Map();
  layers.forEach((layer, r) => {
    if (!layer) return;
    const offset = (tallest - layer.length) * rowH / 2;
    layer.forEach((id, i) => coords.set(id, { x: margin + r * colW, y: margin + offset + i * rowH, w: nodeW, h: nodeH }));
  });
  return { coords, width: margin * 2 + Math.max(1, layers.length) * colW - (colW - nodeW), height, back };
}

function drawTopology(holder, graph) {
  const { coords, width, height } = layout(graph.nodes, graph.edges);
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, "data-testid": "topology" });
  const defs = s("defs");
  for (const cls of ["ok", "warn", "bad", "idle"]) {
    defs.append(s("marker", { id: "arrow-" + cls, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", fill: `var(--${cls === "idle" ? "idle" : cls})` })));
  }
  svg.append(defs);
  const edgeLayer = s("g");
  const nodeLayer = s("g");
  svg.append(edgeLayer, nodeLayer);
  const edgeViews = new Map();
  for (const e of graph.edges) {
    const a = coords.get(e.source), b = coords.get(e.target);
    if (!a || !b) continue;
    let d, lx, ly;
    if (b.x > a.x) {
      const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x - 2, y2 = b.y + b.h / 2, mx = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
      lx = mx; ly = (y1 + y2) / 2 - 6;
    } else {
      // Back or same-rank edge: loop over the top.
      const x1 = a.x + a.w / 2, y1 = a.y, x2 = b.x + b.w / 2, y2 = b.y - 2, top = Math.min(y1, y2) - 40;
      d = `M${x1},${y1} C${x1},${top} ${x2},${top} ${x2},${y2}`;
      lx = (x1 + x2) / 2; ly = top + 8;
    }
    const path = s("path", { d });
    const label = s("text", { x: lx, y: ly, "text-anchor": "middle" });
    const g = s("g", { class: "edge", "data-source": e.source, "data-target": e.target }, path, label);
    edgeLayer.append(g);
    edgeViews.set(e.source + ">" + e.target, { g, path, label });
  }
  const nodeViews = new Map();
  for (const n of graph.nodes) {
    const c = coords.get(n.id);
    if (!c) continue;
    const meta = s("text", { x: c.x + 10, y: c.y + 36, class: "meta" });
    const g = s("g", {
      class: `node ${n.kind}`, "data-id": n.id, "data-kind": n.kind, "data-name": n.name,
      onclick: () => { if (n.kind !== "unknown") location.hash = `#/${n.kind}/${encodeURIComponent(n.namespace)}/${encodeURIComponent(n.name)}`; },
    },
      s("rect", { x: c.x, y: c.y, width: c.w, height: c.h, rx: n.kind === "service" ? 24 : 6 }),
      s("text", { x: c.x + 10, y: c.y + 19, class: "name" }, (n.kind === "service" ? "◆ " : "") + n.name + (n.namespace && n.namespace !== "default" ? "." + n.namespace : "")),
      meta,
      s("title", {}, `${n.kind} ${n.namespace}/${n.name}`));
    nodeLayer.append(g);
    nodeViews.set(n.id, { g, meta });
  }
  holder.replaceChildren(svg);
  return { edgeViews, nodeViews };
}

function updateTopology(view, graph) {
  for (const e of graph.edges) {
    const v = view.edgeViews.get(e.source + ">" + e.target);
    if (!v) continue;
    const cls = health(e);
    v.g.setAttribute("class", `edge ${cls}`);
    v.g.setAttribute("data-health", cls);
    v.g.setAttribute("data-rps", e.rps);
    v.g.setAttribute("data-success", e.successRate ?? "");
    v.path.setAttribute("marker-end", `url(#arrow-${cls})`);
    v.label.textContent = e.traffic
      ? (e.successRate !== null ? `${fmt.rps(e.rps)} rps · ${fmt.pct(e.successRate)} · p99 ${fmt.ms(e.p99)}` : `TCP ${fmt.bytes(e.tcpBytesPerSecond)}`)
      : "idle";
  }
  for (const n of graph.nodes) {
    const v = view.nodeViews.get(n.id);
    if (!v) continue;
    v.g.classList.toggle("idle", !n.traffic && n.kind !== "unknown");
    v.meta.textContent = n.traffic
      ? `${fmt.rps(n.rps)} rps · ${fmt.pct(n.successRate)} · p99 ${fmt.ms(n.p99)}`
      : n.kind === "workload" ? "no inbound traffic" : "no traffic";
  }
}

// ---- services and workloads -------------------------------------------------------------------------------
function statTable(kind, rows) {
  if (!rows.length) return h("div", { class: "empty" }, `No ${kind}s yet.`);
  return h("table", { "data-testid": `${kind}-table` },
    h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "namespace"), h("th", { class: "num" }, "success"),
      h("th", { class: "num" }, "rps"), h("th", { class: "num" }, "p50"), h("th", { class: "num" }, "p95"),
      h("th", { class: "num" }, "p99"), h("th", { class: "num" }, "tcp"))),
    h("tbody", {}, rows.map(r => h("tr", {
      class: "link", "data-name": r.name,
      onclick: () => { location.hash = `#/${kind}/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}`; },
    },
      h("td", {}, h("a", { href: `#/${kind}/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}` }, r.name)),
      h("td", {}, r.namespace),
      h("td", { class: `num ${health(r)}` }, fmt.pct(r.successRate)),
      h("td", { class: "num" }, r.traffic ? fmt.rps(r.rps) : "-"),
      h("td", { class: "num" }, fmt.ms(r.p50)), h("td", { class: "num" }, fmt.ms(r.p95)), h("td", { class: "num" }, fmt.ms(r.p99)),
      h("td", { class: "num" }, fmt.bytes(r.tcpBytesPerSecond))))));
}

function servicesPage() {
  const services = h("div", { class: "panel" });
  const workloads = h("div", { class: "panel" });
  main.append(h("h2", {}, "Services"), h("p", { class: "toolbar" }, "As their callers' sidecars saw them (faults and connection failures included), over the last minute."), services,
    h("h2", {}, "Workloads"), h("p", { class: "toolbar" }, "Inbound traffic as each workload's own sidecar saw it, over the last minute."), workloads);
  every(5000, async () => {
    try {
      const [svc, wl] = await Promise.all([api("/api/v1/telemetry/stat?kind=service"), api("/api/v1/telemetry/stat?kind=workload")]);
      services.replaceChildren(statTable("service", svc.rows));
      workloads.replaceChildren(statTable("workload", wl.rows));
      setStatus(`${svc.source} · ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      setStatus(`stats: ${e.message}`, true);
    }
  });
}

function detailPage(kind, ns, name) {
  const charts = h("div", { class: "charts" });
  main.append(h("div", { class: "toolbar" }, h("a", { href: "#/services" }, "← services"),
    h("h2", {}, `${kind} ${name}`, ns !== "default" ? ` (${ns})` : ""), "last 15 minutes, rates over 1m"), charts);
  const rps = chart("Requests per second", [["rps", "#2f5fb3"]], fmt.rps);
  const errors = chart("Error rate", [["errorRate", "#c62828"]], v => (v * 100).toFixed(1) + "%", 1);
  const latency = chart("Latency", [["p50", "#7fb0ff"], ["p95", "#2f5fb3"], ["p99", "#1d2530"]], fmt.ms);
  charts.append(rps.el, errors.el, latency.el);
  every(5000, async () => {
    try {
      const q = `${kind}=${encodeURIComponent(name)}&namespace=${encodeURIComponent(ns)}&range=15m&step=15s&window=1m`;
      const series = await api(`/api/v1/telemetry/series?${q}`);
      const points = series.points.map(p => ({ ...p, t: new Date(p.time).getTime(), errorRate: p.successRate === null ? null : 1 - p.successRate }));
      rps.draw(points); errors.draw(points); latency.draw(points);
      setStatus(`${points.length} points · ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      setStatus(`series: ${e.message}`, true);
    }
  });
}

// A line chart in SVG: time on x (the last 15 minutes), one polyline per key, gaps where a value is null.
function chart(title, keys, format, fixedMax) {
  const W = 560, H = 200, L = 52, R = 10, T = 10, B = 24;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  const el = h("div", { class: "panel chart", "data-chart": title },
    h("div", { class: "toolbar" }, h("strong", {}, title),
      h("span", { class: "keys" }, keys.map(([k, c]) => h("span", {}, h("i", { style: `background:${c}` }), k)))), svg);
  function draw(points) {
    svg.replaceChildren();
    const now = Date.now(), t0 = now - 15 * 60 * 1000;
    let max = fixedMax ?? 0;
    if (!fixedMax) for (const p of points) for (const [k] of keys) if (p[k] !== null && p[k] > max) max = p[k];
    if (max <= 0) max = 1;
    const x = t => L + (W - L - R) * (t - t0) / (now - t0);
    const y = v => T + (H - T - B) * (1 - v / max);
    for (let i = 0; i <= 4; i++) {
      const v = max * i / 4, yy = y(v);
      svg.append(s("line", { x1: L, x2: W - R, y1: yy, y2: yy, class: i === 0 ? "axis" : "grid" }),
        s("text", { x: L - 6, y: yy + 3, "text-anchor": "end" }, format(v)));
    }
    for (let m = 0; m <= 15; m += 5) {
      const t = now - m * 60000;
      svg.append(s("text", { x: x(t), y: H - 6, "text-anchor": "middle" }, m === 0 ? "now" : `-${m}m`));
    }
    for (const [k, color] of keys) {
      let d = "", pen = false;
      for (const p of points) {
        if (p[k] === null || p[k] === undefined || p.t < t0) { pen = false; continue; }
        d += `${pen ? "L" : "M"}${x(p.t).toFixed(1)},${y(p[k]).toFixed(1)} `;
        pen = true;
      }
      if (d) svg.append(s("path", { d, class: "series", stroke: color, "data-key": k }));
    }
    if (!points.some(p => keys.some(([k]) => p[k] !== null))) {
      svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no traffic in the last 15 minutes"));
    }
  }
  return { el, draw };
}

// ---- traces -----------------------------------------------------------------------------------------------
function tracesPage() {
  const panel = h("div", { class: "panel" });
  main.append(h("h2", {}, "Recent traces"), panel);
  every(5000, async () => {
    try {
      const list = await api("/api/v1/traces?limit=50");
      if (!list.traces.length) {
        panel.replaceChildren(h("div", { class: "empty" }, "No traces received yet. Proxies export sampled requests over OTLP/HTTP to skein-control."));
      } else {
        panel.replaceChildren(h("table", { "data-testid": "traces" },
          h("thead", {}, h("tr", {}, h("th", {}, "time"), h("th", {}, "root"), h("th", { class: "num" }, "duration"),
            h("th", { class: "num" }, "spans"), h("th", {}, "services"), h("th", {}, ""))),
          h("tbody", {}, list.traces.map(t => h("tr", { class: "link", "data-trace": t.traceId, onclick: () => { location.hash = `#/trace/${t.traceId}`; } },
            h("td", {}, fmt.time(t.start)), h("td", {}, h("strong", {}, t.rootService), " ", t.rootName),
            h("td", { class: "num" }, fmt.ms(t.durationMs)), h("td", { class: "num" }, t.spanCount),
            h("td", {}, t.services.join(", ")), h("td", {}, t.error ? h("span", { class: "pill bad" }, "error") : ""))))));
      }
      setStatus(`${list.kept} traces kept · ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      setStatus(`traces: ${e.message}`, true);
    }
  });
}

function tracePage(id) {
  const panel = h("div", { class: "panel" });
  main.append(h("div", { class: "toolbar" }, h("a", { href: "#/traces" }, "← traces"), h("h2", {}, "Trace ", h("code", {}, id))), panel);
  const load = async () => {
    try {
      const t = await api(`/api/v1/traces/${id}`);
      const total = Math.max(t.trace.durationMs, 0.001);
      panel.replaceChildren(
        h("p", {}, `${t.spans.length} spans · ${fmt.ms(t.trace.durationMs)} · ${t.trace.services.join(" → ")}`),
        h("div", { class: "waterfall", "data-testid": "waterfall" }, t.spans.map(sp => {
          const row = h("div", { class: "row", "data-span": sp.spanId, "data-depth": sp.depth, onclick: () => row.classList.toggle("open") },
            h("div", { class: "label", style: `padding-left:${6 + sp.depth * 16}px`, title: sp.name },
              h("span", { class: "svc" }, sp.service), sp.name, sp.orphan ? " (parent missing)" : ""),
            h("div", { class: "track" }, h("div", {
              class: `bar ${sp.kind} ${sp.error ? "error" : ""}`,
              style: `left:${(sp.offsetMs / total * 100).toFixed(3)}%;width:${Math.max(0.2, sp.durationMs / total * 100).toFixed(3)}%`,
              title: `${sp.kind} ${fmt.ms(sp.durationMs)}`,
            })),
            h("div", { class: "dur" }, fmt.ms(sp.durationMs)),
            h("div", { class: "attrs" }, `${sp.kind} span ${sp.spanId} · status ${sp.status}`,
              Object.entries(sp.attributes).map(([k, v]) => h("div", {}, k, ": ", h("code", {}, v)))));
          return row;
        })));
      setStatus(`trace ${id.slice(0, 8)}… · ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      panel.replaceChildren(h("div", { class: "empty" }, e.message));
      setStatus(`trace: ${e.message}`, true);
    }
  };
  load();
}

// ---- config -----------------------------------------------------------------------------------------------
function configPage() {
  const proxies = h("div", { class: "panel" });
  const rejected = h("div", { class: "panel" });
  main.append(h("h2", {}, "Proxies"), proxies, h("h2", {}, "Rejected config"), rejected);
  const types = [["CDS", "clusters"], ["EDS", "endpoints"], ["LDS", "listeners"], ["RDS", "routes"]];
  const sync = (p, key) => {
    const t = p.types[key];
    if (!t || t.sent === null) return ["NOT SENT", "idle"];
    return t.synced ? ["SYNCED", "ok"] : ["STALE", "warn"];
  };
  every(5000, async () => {
    try {
      const [list, status] = await Promise.all([api("/api/v1/proxies"), api("/api/v1/config/status")]);
      proxies.replaceChildren(list.proxies.length === 0 ? h("div", { class: "empty" }, "No proxies connected.") :
        h("table", { "data-testid": "proxies" },
          h("thead", {}, h("tr", {}, h("th", {}, "proxy"), h("th", {}, "workload"), h("th", {}, "connected"),
            types.map(([c]) => h("th", {}, c)), h("th", {}, "last nack"))),
          h("tbody", {}, list.proxies.map(p => h("tr", { "data-proxy": p.id },
            h("td", {}, p.id), h("td", {}, p.workload), h("td", { class: p.connected ? "ok" : "bad" }, p.connected ? "yes" : "no"),
            types.map(([, key]) => { const [text, cls] = sync(p, key); return h("td", {}, h("span", { class: `pill ${cls}` }, text)); }),
            h("td", { class: "nack" }, p.lastNack ? `${p.lastNack.type} v${p.lastNack.version}: ${p.lastNack.message}` : ""))))));
      const nacks = list.proxies.filter(p => p.lastNack);
      const errors = status.directoryErrors || [];
      rejected.replaceChildren(errors.length === 0 && nacks.length === 0
        ? h("div", { class: "empty" }, `Config version ${status.version}: nothing rejected.`)
        : h("div", {},
          errors.length ? h("div", {}, h("h3", {}, "Config directory refused"), errors.map(d => h("div", { class: "nack" }, d.text))) : null,
          nacks.length ? h("div", {}, h("h3", {}, "Rejected by proxies (NACK)"),
            nacks.map(p => h("div", { class: "nack" }, `${p.workload || p.id}: ${p.lastNack.type} v${p.lastNack.version}: ${p.lastNack.message}`))) : null));
      setStatus(`config version ${status.version} · ${list.proxies.length} proxies · ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      setStatus(`config: ${e.message}`, true);
    }
  });
}

window.addEventListener("hashchange", route);
route();
