// The workbench: pick a built-in scenario, edit its main fields and see the twin's headline; pin
// designs and compare them side by side; run a bounded sweep and explore its Pareto frontier (a
// click on a point shows its design, "Open" loads it into the form).
"use strict";
const $ = id => document.getElementById(id);
const FIELDS = {gpu: "cluster.gpu", num_gpus: "cluster.num_gpus", model: "job.model", tokens: "job.tokens",
                grid_mw: "site.grid_mw"};
const NUMERIC = new Set(["num_gpus", "tokens", "grid_mw"]);
// sweep axes the explorer offers: dotted path -> [label, unit]
const AXES = {
  "cluster.num_gpus": ["GPU count", "GPUs"], "cluster.gpu.power_cap_w": ["GPU power cap", "W"],
  "cluster.oversubscription": ["fabric oversubscription", ""], "job.tokens": ["training tokens", "tokens"],
  "site.grid_mw": ["site grid power", "MW"], "policies.checkpoint_interval_min": ["checkpoint interval", "min"],
};
const OBJECTIVES = [["days_to_model_p50", "days to model, p50 (days)"], ["capex_usd", "capex ($B)"]];
let catalog = null, defaults = {}, seq = 0, timer = null, labels = [], extra = {};
let pins = [], sweep = null, picked = null;

async function call(path, body) {
  const r = await fetch(path, body === undefined ? {} :
    {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
  const data = await r.json();
  if (!r.ok) throw new Error((data.error && data.error.message) || `HTTP ${r.status}`);
  return data;
}

function fill(select, items) {
  select.textContent = "";
  for (const it of items) {
    const o = document.createElement("option");
    o.value = it.id === undefined ? it : it.id;
    o.textContent = it.name ? `${it.id} — ${it.name}` : o.value;
    select.appendChild(o);
  }
}

function platformFor(gpu) {
  return catalog.scaleups.find(s => s.gpus.includes(gpu));
}

function request() {
  const overrides = {};
  for (const [k, path] of Object.entries(FIELDS)) {
    let v = $(k).value.trim();
    if (v === "") continue;
    if (NUMERIC.has(k)) v = Number(v);
    if (v === defaults[k] || (typeof v === "number" && v === Number(defaults[k]))) continue;
    if (typeof v === "number" && !isFinite(v)) throw new Error(`${path}: not a number`);
    overrides[path] = v;
  }
  const gpu = $("gpu").value;
  if (gpu !== defaults.gpu) {
    const p = platformFor(gpu);
    if (p && p.id !== defaults.scale_up) overrides["cluster.scale_up"] = p.id;
  }
  return {scenario: $("scenario").value, overrides: {...overrides, ...extra}};
}

const FORMAT = {
  days_to_model_p50: v => v.toFixed(1), days_to_model_p90: v => v.toFixed(1), training_days_p50: v => v.toFixed(1),
  mfu: v => (100 * v).toFixed(1) + " %", goodput_p50: v => (100 * v).toFixed(1) + " %",
  peak_mw: v => v.toFixed(1), energy_mwh: v => Plot.fmt(v), capex_usd: v => Plot.num(v, "$"),
  usd_per_run: v => Plot.num(v, "$"),
};

function show(head) {
  for (const [k, f] of Object.entries(FORMAT)) {
    const v = head[k];
    $(k).textContent = typeof v === "number" && isFinite(v) ? f(v) : "–";
  }
  $("plan").textContent = head.plan || "–";
  const fits = head.site_fits;
  $("site_fits").textContent = fits === true ? "the cluster fits" : fits === false ? "the cluster does NOT fit" : "–";
  $("site_fits").className = fits === true ? "ok" : fits === false ? "no" : "";
}

function sizes(n, domain) {
  const d = Math.max(domain || 8, 8);
  const out = new Set();
  for (const f of [0.25, 0.5, 0.75, 1, 1.5, 2]) out.add(Math.max(d, Math.round(n * f / d) * d));
  return [...out].sort((a, b) => a - b);
}

function showExtra() {
  const items = Object.entries(extra);
  $("extra").textContent = items.length ? "also set: " + items.map(([k, v]) => `${k} = ${v}`).join(", ") : "";
}

let current = null;  // the request and headline shown now (what "Pin" keeps)

async function update() {
  const my = ++seq;
  $("error").textContent = "";
  let req;
  try { req = request(); } catch (e) { $("error").textContent = e.message; return; }
  const p = platformFor($("gpu").value);
  const domain = p ? p.gpus_per_domain : 8;
  $("num_gpus").step = domain;
  $("platform").textContent = p ? `platform: ${p.id} (NVLink domains of ${domain} GPUs)` : "";
  showExtra();
  $("status").textContent = "simulating…";
  current = null;
  try {
    const res = await call("/api/simulate", req);
    if (my !== seq) return;
    show(res.headline);
    current = {req, headline: res.headline};
    $("status").textContent = `updated in ${res.elapsed_s.toFixed(2)} s`;
  } catch (e) {
    if (my !== seq) return;
    $("error").textContent = e.message;
    $("status").textContent = "";
    show({});
    return;
  }
  const n = parseInt($("num_gpus").value, 10);
  const xs = sizes(n, domain);
  // one bounded request per size, two at a time, the plots redrawn as each answer arrives (the
  // current size is the headline just computed)
  const by = {[n]: current.headline};
  const draw = () => {
    const col = k => xs.map(x => (by[x] && typeof by[x][k] === "number") ? by[x][k] : null);
    Plot.lines($("plot-days"), {x: xs, xlabel: "GPU count", ylabel: "days from ground-breaking", mark: n, series: [
      {name: "p50", y: col("days_to_model_p50"), color: "#1f6feb"},
      {name: "p90", y: col("days_to_model_p90"), color: "#d2691e"}]});
    Plot.lines($("plot-power"), {x: xs, xlabel: "GPU count", ylabel: "peak facility power (MW)",
      ylabel2: "capex ($B)", mark: n, series: [
      {name: "peak power, MW", y: col("peak_mw"), color: "#c0392b", axis: "left"},
      {name: "capex, $B", y: col("capex_usd").map(v => v === null ? null : v / 1e9), color: "#27ae60", axis: "right"}]});
  };
  draw();
  const todo = xs.filter(x => x !== n).sort((a, b) => Math.abs(a - n) - Math.abs(b - n));
  const failed = [];
  const worker = async () => {
    while (todo.length && my === seq) {
      const x = todo.shift();
      try {
        const res = await call("/api/simulate", {...req, overrides: {...req.overrides, "cluster.num_gpus": x}});
        if (my !== seq) return;
        by[x] = res.headline;
        draw();
      } catch (e) {
        if (my === seq) failed.push(`${Plot.fmt(x)} GPUs: ${e.message}`);
      }
    }
  };
  await Promise.all([worker(), worker()]);
  if (my === seq && failed.length) $("status").textContent += `; not plotted: ${failed.join("; ")}`;
}

function schedule() { clearTimeout(timer); timer = setTimeout(update, 250); }

// ------------------------------------------------------------------ compare pinned designs

function describe(req) {
  const parts = Object.entries(req.overrides).map(([k, v]) => `${k.split(".").pop()}=${typeof v === "number" ? Plot.fmt(v) : v}`);
  return `${req.scenario}` + (parts.length ? ": " + parts.join(", ") : " (as built in)");
}

function pin() {
  if (!current) { $("compare-status").textContent = "nothing to pin yet: wait for the figures"; return; }
  const label = `#${pins.length + 1} ${describe(current.req)}`.slice(0, 60);
  if (pins.some(p => JSON.stringify(p.req) === JSON.stringify(current.req))) {
    $("compare-status").textContent = "this design is pinned already";
    return;
  }
  pins.push({label, req: current.req});
  renderPins();
  compare();
}

function renderPins() {
  const ul = $("pins");
  ul.textContent = "";
  pins.forEach((p, i) => {
    const li = document.createElement("li");
    li.textContent = p.label + " ";
    const b = document.createElement("button");
    b.className = "small"; b.type = "button"; b.textContent = "×"; b.title = "unpin";
    b.addEventListener("click", () => { pins.splice(i, 1); renderPins(); compare(); });
    li.appendChild(b);
    ul.appendChild(li);
  });
}

function figureTable(table, columns, heads, cols) {
  // rows: each headline figure with its label; one column per design; the unit last
  table.textContent = "";
  const thead = table.createTHead().insertRow();
  for (const [i, h] of ["figure", ...columns, "unit"].entries()) {
    const th = document.createElement("th");
    th.textContent = h;
    if (i === 0 || i === columns.length + 1) th.className = "t";
    thead.appendChild(th);
  }
  const body = table.createTBody();
  for (const f of labels) {
    if (cols && !cols.includes(f.key)) continue;
    const vals = heads.map(h => h[f.key]);
    if (vals.every(v => v === null || v === undefined)) continue;
    const tr = body.insertRow();
    tr.dataset.key = f.key;
    const lab = tr.insertCell(); lab.textContent = f.label; lab.className = "t";
    for (const v of vals) {
      const td = tr.insertCell();
      if (f.key === "site_fits") td.textContent = v === true ? "fits" : v === false ? "DOES NOT FIT" : "–";
      else if (f.unit.startsWith("$")) td.textContent = Plot.num(v, "$");
      else td.textContent = Plot.num(v, f.unit).replace(f.unit ? " " + f.unit : "", "");
      if (typeof v === "string" && f.key === "plan") td.className = "t wrap";
    }
    const u = tr.insertCell(); u.className = "u";
    u.textContent = f.key === "site_fits" ? "" : f.unit.startsWith("$") ? f.unit.slice(1) : f.unit;
  }
}

async function compare() {
  const table = $("compare-table");
  if (pins.length < 2) {
    table.textContent = "";
    $("compare-status").textContent = pins.length ? "pin one more design to compare" : "";
    return;
  }
  $("compare-status").textContent = "comparing…";
  try {
    const res = await call("/api/compare", {designs: pins.slice(-4).map(p => ({...p.req, label: p.label}))});
    figureTable(table, res.designs, res.headlines);
    $("compare-status").textContent = `${res.designs.length} designs side by side (${res.elapsed_s.toFixed(2)} s)` +
      (pins.length > 4 ? "; the last four pinned are shown" : "");
  } catch (e) {
    $("compare-status").textContent = e.message;
  }
}

// ------------------------------------------------------------------ sweep and Pareto explorer

function parseValues(text, path) {
  const vals = text.split(",").map(s => s.trim()).filter(s => s !== "");
  return vals.map(v => {
    const x = Number(v);
    if (!isFinite(x)) throw new Error(`${path}: ${JSON.stringify(v)} is not a number`);
    return x;
  });
}

async function runSweep() {
  let base;
  try { base = request(); } catch (e) { $("sweep-status").textContent = e.message; return; }
  const axes = {};
  try {
    for (const i of [1, 2]) {
      const path = $(`axis${i}`).value;
      if (!path) continue;
      const vals = parseValues($(`values${i}`).value, path);
      if (vals.length) axes[path] = vals;
    }
  } catch (e) { $("sweep-status").textContent = e.message; return; }
  if (!Object.keys(axes).length) { $("sweep-status").textContent = "give the axis some values"; return; }
  const overrides = Object.fromEntries(Object.entries(base.overrides).filter(([k]) => !(k in axes)));
  $("sweep-status").textContent = "sweeping…";
  const t0 = performance.now();
  try {
    const res = await call("/api/sweep", {scenario: base.scenario, overrides, axes});
    sweep = {res, axes: Object.keys(axes), base: {scenario: base.scenario, overrides}};
    picked = null;
    const bad = res.rows.filter(r => r.error).length;
    $("sweep-status").textContent = `${res.rows.length} designs, ${res.pareto.length} on the Pareto frontier ` +
      `(minimising ${res.objectives.join(", ")})` + (bad ? `; ${bad} rejected` : "") +
      ` in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    drawSweep();
    $("point").innerHTML = '<p class="hint">Click a point (or a row) to see its design.</p>';
  } catch (e) {
    $("sweep-status").textContent = e.message;
  }
}

function axisText(path, v) {
  const [label, unit] = AXES[path] || [path, ""];
  return `${label} ${Plot.num(v, unit)}`;
}

function drawSweep() {
  const {res, axes} = sweep;
  const front = new Set(res.pareto);
  const ok = res.rows.filter(r => !r.error);
  Plot.scatter($("pareto-plot"), {
    xlabel: OBJECTIVES[0][1], ylabel: OBJECTIVES[1][1], selected: picked,
    points: ok.map(r => ({x: r.days_to_model_p50, y: r.capex_usd / 1e9, id: r.point_id, front: front.has(r.point_id),
      title: axes.map(a => axisText(a, r[a])).join(", ") +
        `: ${r.days_to_model_p50.toFixed(1)} days, ${Plot.num(r.capex_usd, "$")}, ${Plot.num(r.peak_mw, "MW")}`})),
    onpick: pick,
  });
  const table = $("pareto-table");
  table.textContent = "";
  const cols = [...axes.map(a => [a, AXES[a] ? `${AXES[a][0]}${AXES[a][1] ? ` (${AXES[a][1]})` : ""}` : a]),
    ["days_to_model_p50", "days to model p50 (days)"], ["capex_usd", "capex ($B)"], ["peak_mw", "peak power (MW)"],
    ["usd_per_run", "cost per run ($M)"], ["frontier", "on the frontier"]];
  const head = table.createTHead().insertRow();
  for (const [, h] of cols) { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
  const body = table.createTBody();
  const sorted = [...res.rows].sort((a, b) => (front.has(b.point_id) - front.has(a.point_id)) ||
    ((a.days_to_model_p50 ?? Infinity) - (b.days_to_model_p50 ?? Infinity)));
  for (const r of sorted) {
    const tr = body.insertRow();
    tr.dataset.id = r.point_id;
    if (front.has(r.point_id)) tr.className = "front";
    if (r.point_id === picked) tr.className += " sel";
    for (const [k] of cols) {
      const td = tr.insertCell();
      const v = r[k];
      if (k === "frontier") td.textContent = r.error ? "rejected" : front.has(r.point_id) ? "yes" : "no";
      else if (r.error && !axes.includes(k)) td.textContent = "–";
      else if (k === "capex_usd") td.textContent = (v / 1e9).toFixed(2);
      else if (k === "usd_per_run") td.textContent = typeof v === "number" ? (v / 1e6).toFixed(1) : "–";
      else td.textContent = typeof v === "number" ? Plot.num(v) : v;
    }
    if (!r.error) tr.addEventListener("click", () => pick(r.point_id));
    else tr.title = r.error;
  }
}

function pick(id) {
  picked = id;
  drawSweep();
  const r = sweep.res.rows.find(x => x.point_id === id);
  const box = $("point");
  box.textContent = "";
  const h = document.createElement("h3");
  h.textContent = `Design ${id}` + (sweep.res.pareto.includes(id) ? " (on the frontier)" : " (dominated)");
  box.appendChild(h);
  const dl = document.createElement("dl");
  const add = (k, v) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    dl.append(dt, dd);
  };
  for (const a of sweep.axes) add(a, Plot.num(r[a], (AXES[a] || ["", ""])[1]));
  for (const f of labels) {
    if (!["days_to_model_p50", "days_to_model_p90", "mfu", "goodput_p50", "peak_mw", "capex_usd", "usd_per_run",
          "site_fits", "plan"].includes(f.key)) continue;
    const v = r[f.key];
    add(f.label, f.key === "site_fits" ? (v ? "fits" : "DOES NOT FIT") : Plot.num(v, f.unit));
  }
  box.appendChild(dl);
  const open = document.createElement("button");
  open.type = "button"; open.id = "open-point"; open.textContent = "Open this design";
  open.addEventListener("click", () => openDesign(r));
  box.appendChild(open);
}

async function openDesign(r) {
  // the sweep's base design with this point's axis values, in the form
  const over = {...sweep.base.overrides};
  for (const a of sweep.axes) over[a] = r[a];
  const byPath = Object.fromEntries(Object.entries(FIELDS).map(([k, p]) => [p, k]));
  if ($("scenario").value !== sweep.base.scenario) {
    $("scenario").value = sweep.base.scenario;
    await loadScenario(sweep.base.scenario, false);
  }
  extra = {};
  for (const [k, v] of Object.entries(over)) {
    if (byPath[k]) $(byPath[k]).value = v;
    else if (k !== "cluster.scale_up") extra[k] = v;
  }
  await update();
  $("form").scrollIntoView({behavior: "instant", block: "start"});
}

// ------------------------------------------------------------------ start

async function loadScenario(name, run = true) {
  const s = await call(`/api/scenarios/${encodeURIComponent(name)}`);
  defaults = s.form;
  extra = {};
  for (const k of Object.keys(FIELDS)) {
    const v = defaults[k];
    $(k).value = typeof v === "number" && Math.abs(v) >= 1e7 ? v.toExponential() : v;
  }
  const n = Number(defaults.num_gpus), d = Math.max(8, Number(defaults.domain) || 8);
  const q = f => Math.max(d, Math.round(n * f / d) * d);
  $("axis1").value = "cluster.num_gpus";
  $("values1").value = [q(0.25), q(0.5), n].join(", ");
  $("axis2").value = "";
  $("values2").value = "";
  if (run) await update();
}

async function main() {
  [catalog, labels] = await Promise.all([call("/api/catalog"), call("/api/labels").then(r => r.figures)]);
  fill($("scenario"), catalog.scenarios);
  fill($("gpu"), catalog.gpus);
  fill($("model"), catalog.models);
  for (const i of [1, 2]) {
    const sel = $(`axis${i}`);
    if (i === 2) { const o = document.createElement("option"); o.value = ""; o.textContent = "(none)"; sel.appendChild(o); }
    for (const [path, [label, unit]] of Object.entries(AXES)) {
      const o = document.createElement("option");
      o.value = path; o.textContent = `${label}${unit ? ` (${unit})` : ""}`;
      sel.appendChild(o);
    }
  }
  $("scenario").addEventListener("change", () => loadScenario($("scenario").value));
  for (const k of Object.keys(FIELDS)) {
    $(k).addEventListener("change", schedule);
    $(k).addEventListener("input", schedule);
  }
  $("pin").addEventListener("click", pin);
  $("run-sweep").addEventListener("click", runSweep);
  await loadScenario($("scenario").value);
}

main().catch(e => { $("error").textContent = e.message; });
