// edgestream live page: server-sent events in, canvas plots out. No libraries, no CDN.
"use strict";

const S = { latest: null, series: { run_uid: null, points: [] }, eels: null, agent: null,
            health: null, received: {}, drawn: {} };
window.edgestream = S;  // read by the browser test
const COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2"];

// ---------------------------------------------------------------- a small plotting kit
function ctx2d(canvas) {
  const r = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * r) || canvas.height !== Math.round(h * r)) {
    canvas.width = Math.round(w * r); canvas.height = Math.round(h * r);
  }
  const c = canvas.getContext("2d");
  c.setTransform(r, 0, 0, r, 0, 0); c.clearRect(0, 0, w, h);
  c.font = "11px system-ui, sans-serif";
  return { c, w, h };
}

function ticks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

function extent(values, pad) {
  const v = values.filter((x) => x !== null && Number.isFinite(x));
  if (!v.length) return [0, 1];
  let lo = Math.min(...v), hi = Math.max(...v);
  if (hi === lo) { lo -= 0.5; hi += 0.5; }
  const p = (hi - lo) * (pad || 0.05);
  return [lo - p, hi + p];
}

function frame(canvas, xr, yr, xlabel, ylabel) {
  const { c, w, h } = ctx2d(canvas);
  const m = { l: 58, r: 12, t: 8, b: 34 };
  const X = (x) => m.l + ((x - xr[0]) / (xr[1] - xr[0])) * (w - m.l - m.r);
  const Y = (y) => h - m.b - ((y - yr[0]) / (yr[1] - yr[0])) * (h - m.t - m.b);
  c.strokeStyle = "#d1d5db"; c.fillStyle = "#6b7280"; c.lineWidth = 1;
  c.textAlign = "center";
  for (const t of ticks(Math.min(...xr), Math.max(...xr), 6)) {
    c.beginPath(); c.moveTo(X(t), h - m.b); c.lineTo(X(t), h - m.b + 4); c.stroke();
    c.fillText(+t.toPrecision(6), X(t), h - m.b + 15);
  }
  c.textAlign = "right";
  for (const t of ticks(Math.min(...yr), Math.max(...yr), 5)) {
    c.beginPath(); c.moveTo(m.l - 4, Y(t)); c.lineTo(w - m.r, Y(t));
    c.strokeStyle = "#f1f5f9"; c.stroke(); c.strokeStyle = "#d1d5db";
    c.fillText(+t.toPrecision(4), m.l - 6, Y(t) + 4);
  }
  c.strokeRect(m.l, m.t, w - m.l - m.r, h - m.t - m.b);
  c.textAlign = "center"; c.fillText(xlabel, (m.l + w - m.r) / 2, h - 4);
  c.save(); c.translate(12, (m.t + h - m.b) / 2); c.rotate(-Math.PI / 2);
  c.fillText(ylabel, 0, 0); c.restore();
  return { c, X, Y, w, h, m };
}

function line(f, xs, ys, color, width) {
  const { c, X, Y } = f;
  c.strokeStyle = color; c.lineWidth = width || 1.5; c.beginPath();
  let pen = false;
  for (let i = 0; i < xs.length; i++) {
    if (ys[i] === null || !Number.isFinite(ys[i])) { pen = false; continue; }
    if (pen) c.lineTo(X(xs[i]), Y(ys[i])); else c.moveTo(X(xs[i]), Y(ys[i]));
    pen = true;
  }
  c.stroke();
}

function dots(f, xs, ys, color, r) {
  const { c, X, Y } = f;
  c.fillStyle = color;
  for (let i = 0; i < xs.length; i++) {
    if (ys[i] === null || !Number.isFinite(ys[i])) continue;
    c.beginPath(); c.arc(X(xs[i]), Y(ys[i]), r || 3, 0, 2 * Math.PI); c.fill();
  }
}

function vline(f, x, color, dash, label) {
  const { c, X, h, m } = f;
  c.strokeStyle = color; c.setLineDash(dash || []); c.beginPath();
  c.moveTo(X(x), m.t); c.lineTo(X(x), h - m.b); c.stroke(); c.setLineDash([]);
  if (label) { c.fillStyle = color; c.textAlign = "left"; c.fillText(label, X(x) + 3, m.t + 12); }
}

function legend(f, items) {
  const { c, w, m } = f;
  c.textAlign = "right";
  items.forEach(([text, color], i) => {
    c.fillStyle = color; c.fillText(text, w - m.r - 6, m.t + 14 + 14 * i);
  });
}

function fmt(v, d) { return v === null || v === undefined ? "–" : (+v).toFixed(d === undefined ? 2 : d); }

// ---------------------------------------------------------------- the panels
function drawRaw() {
  const a = S.latest, el = document.getElementById("raw");
  if (!a || !a.raw) return;
  const cal = a.calibration || {shift_ev: 0, source: "none"};
  const x = a.raw.energy.map((v) => v + cal.shift_ev), y = a.raw.signal;
  const f = frame(el, extent(x, 0), extent(y), a.modality === "eels" ? "energy loss (eV)"
    : "photon energy (eV)", a.modality === "eels" ? "counts" : "μ(E)");
  line(f, x, y, COLORS[0]);
  vline(f, a.e0, "#9ca3af", [4, 3], `e0 ${fmt(a.e0)}`);
  el.dataset.points = x.length; S.drawn.raw = (S.drawn.raw || 0) + 1;
  document.getElementById("raw-caption").textContent =
    `${a.sample || "sample ?"}, run ${a.run_uid.slice(0, 8)}, seq ${a.seq_range.join("–")}` +
    (a.index_in_event ? `, pixel ${a.index_in_event}` : "") + ` (${x.length} points)` +
    (cal.source === "none" ? "" : `; energy ${cal.shift_ev >= 0 ? "+" : ""}` +
     `${fmt(cal.shift_ev)} eV (${cal.source === "reference" ? "reference foil" : cal.source})`);
}

function drawNorm() {
  const a = S.latest, el = document.getElementById("norm");
  if (!a) return;
  const [start, , step] = a.grid, xs = a.norm.map((_, i) => a.e0 + start + i * step);
  const f = frame(el, extent(xs, 0), extent(a.norm.concat([0, 1])), "energy (eV)",
                  "normalized");
  line(f, xs, a.norm, COLORS[1], 2);
  vline(f, a.e0, "#6b7280", [4, 3], "e0");
  const wl = a.features && a.features.white_line_energy;
  if (wl) vline(f, wl, COLORS[3], [2, 3], "white line");
  const preds = a.predictions.map((p) => `${p.plugin}: ` + Object.entries(p.outputs)
    .map(([k, v]) => `${k}=${typeof v === "number" ? fmt(v, 3) : v}`).join(", "));
  legend(f, [[`${a.element} ${a.edge} ${a.modality}`, "#111827"],
             [`e0 ${fmt(a.e0)} eV, step ${fmt(a.edge_step, 3)}`, "#374151"],
             ...preds.slice(0, 3).map((p) => [p.slice(0, 60), COLORS[2]])]);
  el.dataset.points = a.norm.length; S.drawn.norm = (S.drawn.norm || 0) + 1;
  const cap = document.getElementById("annotation");
  cap.textContent = `annotation ${a.annotation_id} (${a.kind}) · ${a.element} ${a.edge} · ` +
    `e0 ${fmt(a.e0)} eV · ${preds.join(" · ") || "no model predictions"}`;
  cap.dataset.annotationId = a.annotation_id;
}

function drawSeries() {
  const pts = S.series.points, el = document.getElementById("series");
  if (!pts.length) return;
  const t1 = pts[pts.length - 1].t, xs = pts.map((p) => p.t - t1), ys = pts.map((p) => p.value);
  const source = (pts.find((p) => p.source) || {}).source || "quantity";
  const f = frame(el, extent(xs.concat([0]), 0.02), extent(ys), "seconds (0: latest)", source);
  const mine = pts.map((p) => p.run === S.series.run_uid);
  dots(f, xs.filter((_, i) => !mine[i]), ys.filter((_, i) => !mine[i]), "#cbd5e1", 2);
  const cx = xs.filter((_, i) => mine[i]), cy = ys.filter((_, i) => mine[i]);
  line(f, cx, cy, "#93c5fd", 1); dots(f, cx, cy, COLORS[0], 3);
  const motifs = [...new Set(pts.map((p) => p.motif).filter((m) => m))];
  if (motifs.length) {
    pts.forEach((p, i) => { if (p.motif) dots(f, [xs[i]], [ys[i]],
      COLORS[1 + (motifs.indexOf(p.motif) % 5)], 4); });
    legend(f, motifs.map((m, i) => [`motif ${m}`, COLORS[1 + (i % 5)]]));
  }
  el.dataset.points = pts.length; S.drawn.series = (S.drawn.series || 0) + 1;
  document.getElementById("series-caption").textContent =
    `current run ${String(S.series.run_uid).slice(0, 8)} (${S.series.sample || "?"}, blue): ` +
    `${cx.length} spectra; grey: the ${pts.length - cx.length} before it`;
}

function drawEels() {
  const m = S.eels, el = document.getElementById("eels");
  if (!m || !m.cells.length) return;
  const rows = m.cells.map((c) => c[0]), cols = m.cells.map((c) => c[1]);
  const vals = m.cells.map((c) => c[2]);
  // a valence map keeps one colour per oxidation state: its plugin's range (Cu 0..3, Mn 2..4)
  const [lo, hi] = m.range ? m.range
    : /valence\.value$/.test(m.source) ? [Math.min(0, ...vals), Math.max(2, ...vals)]
    : extent(vals, 0);
  const r0 = Math.min(...rows), r1 = Math.max(...rows), c1 = Math.max(...cols);
  const f = frame(el, [-0.5, c1 + 0.5], [r1 + 0.5, r0 - 0.5], "pixel along the row",
                  "row (event)");
  const { c, X, Y } = f;
  for (const [r, p, v] of m.cells) {
    const t = Math.max(0, Math.min(1, (v - lo) / (hi - lo)));
    c.fillStyle = `hsl(${240 - 240 * t}, 75%, ${35 + 25 * t}%)`;
    c.fillRect(X(p - 0.5), Y(r - 0.5), X(p + 0.5) - X(p - 0.5) + 0.5, Y(r + 0.5) - Y(r - 0.5) + 0.5);
  }
  legend(f, [[`${m.element ? m.element + " " : ""}${m.source}: ${fmt(lo)} (blue) … ${fmt(hi)} (red)`, "#111827"]]);
  el.dataset.points = m.cells.length; S.drawn.eels = (S.drawn.eels || 0) + 1;
  document.getElementById("eels-caption").textContent =
    `${m.sample || ""} run ${m.run_uid.slice(0, 8)}: ${m.cells.length} pixels`;
}

function drawAgent() {
  const rep = S.agent, el = document.getElementById("agent");
  if (!rep) return;
  const names = Object.keys(rep.samples || {});
  if (!names.length) return;
  const name = names[names.length - 1], s = rep.samples[name];
  const xs = s.map.map((p) => p.x), ys = s.map.map((p) => p.y);
  const pend = s.pending.map((p) => p.position[0]);
  const f = frame(el, extent(xs.concat(pend), 0.03), extent(ys), "stage position (mm)",
                  s.quantity || "quantity");
  const bounds = (s.strategy && s.strategy.boundaries) || [];
  for (const b of bounds) {
    const [lo, hi] = b.interval95, { c, X, m, h } = f;
    c.fillStyle = b.found ? "rgba(37,99,235,0.12)" : "rgba(156,163,175,0.15)";
    c.fillRect(X(lo), m.t, Math.max(2, X(hi) - X(lo)), h - m.t - m.b);
    vline(f, b.center, b.found ? COLORS[0] : "#9ca3af", b.found ? [] : [3, 3]);
    c.fillStyle = COLORS[0]; c.textAlign = "center";
    c.fillText(`${fmt(b.center)} mm`, X(b.center), m.t + 12 + 13 * (bounds.indexOf(b) % 2));
    c.fillText(`P ${fmt(b.p_within, 2)}`, X(b.center), m.t + 38 + 13 * (bounds.indexOf(b) % 2));
  }
  dots(f, xs, ys, "#111827", 3);
  const { c, X, h, m } = f;
  c.fillStyle = COLORS[1];
  for (const x of pend) {
    c.beginPath(); c.moveTo(X(x), h - m.b - 2); c.lineTo(X(x) - 6, h - m.b - 12);
    c.lineTo(X(x) + 6, h - m.b - 12); c.fill();
  }
  c.textAlign = "left"; c.fillStyle = "#111827";
  c.fillText(`${s.n_observations} scans${s.stopped ? ", stopped" : ""}`, m.l + 6, h - m.b - 22);
  c.fillStyle = COLORS[1]; c.fillText("▼ suggested next", m.l + 6, h - m.b - 8);
  el.dataset.points = xs.length; S.drawn.agent = (S.drawn.agent || 0) + 1;
  const last = s.suggestions.slice(-1)[0];
  document.getElementById("agent-caption").textContent = `${rep.agent_name} on ${name}: ` +
    (s.stopped || (last ? `next ${last.plan.name}(${last.plan.args.join(", ")}): ${last.reason}` : ""));
}

function drawHealth() {
  const hl = S.health, el = document.getElementById("health");
  if (!hl) return;
  const tp = hl.throughput || [], t0 = tp.length ? tp[0][0] : 0;
  const xs = tp.map((p) => p[0] - t0), ys = tp.map((p) => p[1]);
  const f = frame(el, extent(xs.concat([0]), 0), extent(ys.concat([0])), "seconds",
                  "spectra per second");
  line(f, xs, ys, COLORS[2], 2);
  const errs = Object.values(hl.errors || {}).reduce((a, b) => a + b, 0);
  const dead = Object.values(hl.dead_letters || {}).reduce((a, b) => a + b, 0);
  // runs that ended without a spectrum (a count, a motor tune): counted, not errors
  const skipped = Object.entries(hl.skipped || {}).map(([r, n]) => `${r} ${n}`).join(", ");
  legend(f, [[`${fmt(hl.spectra_per_s, 1)} spectra/s`, COLORS[2]],
             [`errors ${errs}, dead letters ${dead}`, errs ? "#dc2626" : "#374151"],
             [`lag ${hl.lag || 0}, queue ${hl.queue_depth || 0}`, "#374151"]]);
  S.drawn.health = (S.drawn.health || 0) + 1;
  document.getElementById("health-caption").textContent =
    `annotations ${hl.annotations} · documents ${hl.documents || 0} · ` +
    `mean latency ${hl.latency_s === null || hl.latency_s === undefined ? "–" : fmt(hl.latency_s, 3) + " s"}`;
  document.getElementById("counters").innerHTML =
    `<b>${hl.annotations}</b> annotations · <b>${fmt(hl.spectra_per_s, 1)}</b>/s · ` +
    `<b>${errs}</b> errors` + (skipped ? ` · skipped runs: ${skipped}` : "");
}

// ---------------------------------------------------------------- wiring
const DRAW = { spectrum: [drawRaw, drawNorm], series: [drawSeries], eels_map: [drawEels],
               agent: [drawAgent], health: [drawHealth] };
const dirty = new Set();
function schedule(kind) {
  dirty.add(kind);
  if (dirty.size === 1) requestAnimationFrame(() => {
    for (const k of dirty) for (const fn of DRAW[k]) {
      try { fn(); } catch (e) { console.error(k, e); }
    }
    dirty.clear();
  });
}

const HANDLERS = {
  spectrum: (d) => { S.latest = d; },
  series: (d) => {
    S.series.run_uid = d.run_uid; S.series.sample = d.sample;
    S.series.points.push(d.point); if (S.series.points.length > 500) S.series.points.shift();
  },
  eels_map: (d) => {
    if (!S.eels || S.eels.run_uid !== d.run_uid) S.eels = { run_uid: d.run_uid, sample: d.sample, source: d.source, element: d.element, range: d.range, cells: [] };
    S.eels.cells = S.eels.cells.filter((c) => c[0] !== d.cell[0] || c[1] !== d.cell[1]);
    S.eels.cells.push(d.cell);
  },
  agent: (d) => { S.agent = d; },
  health: (d) => { S.health = d; },
};

function connect() {
  const status = document.getElementById("status");
  const es = new EventSource("/events");
  es.onopen = () => { status.dataset.state = "live"; status.textContent = "live"; };
  es.onerror = () => { status.dataset.state = "lost"; status.textContent = "reconnecting…"; };
  for (const [name, fn] of Object.entries(HANDLERS)) {
    es.addEventListener(name, (ev) => {
      fn(JSON.parse(ev.data)); S.received[name] = (S.received[name] || 0) + 1; schedule(name);
    });
  }
}

fetch("/api/state").then((r) => r.json()).then((st) => {
  if (st.latest) { S.latest = st.latest; schedule("spectrum"); }
  if (st.series) { S.series = st.series; schedule("series"); }
  if (st.eels_map) { S.eels = st.eels_map; schedule("eels_map"); }
  if (st.agent) { S.agent = st.agent; schedule("agent"); }
  if (st.health) { S.health = st.health; schedule("health"); }
}).finally(connect);
window.addEventListener("resize", () => Object.keys(DRAW).forEach(schedule));
