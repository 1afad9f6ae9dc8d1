// The page: pick or edit a scenario, see the twin's headline and two small plots update.
"use strict";
const $ = id => document.getElementById(id);
const FIELDS = {gpu: "cluster.gpu", num_gpus: "cluster.num_gpus", model: "job.model", tokens: "job.tokens",
                grid_mw: "site.grid_mw"};
let catalog = null, defaults = {}, seq = 0, timer = null;

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
    if (k === "num_gpus") v = Number(v);
    else if (k === "tokens" || k === "grid_mw") v = Number(v);
    if (v === defaults[k] || (typeof v === "number" && v === Number(defaults[k]))) continue;
    if (typeof v === "number" && !isFinite(v)) throw new Error(`${path}: not a number`);
    overrides[path] = v;
  }
  const gpu = $("gpu").value;
  if (gpu !== defaults.gpu) {
    const p = platformFor(gpu);
    if (p && p.id !== defaults.scale_up) overrides["cluster.scale_up"] = p.id;
  }
  return {scenario: $("scenario").value, overrides};
}

const FORMAT = {
  days_to_model_p50: v => v.toFixed(1), days_to_model_p90: v => v.toFixed(1), training_days_p50: v => v.toFixed(1),
  mfu: v => (100 * v).toFixed(1) + " %", goodput_p50: v => (100 * v).toFixed(1) + " %",
  peak_mw: v => v.toFixed(1), energy_mwh: v => Plot.fmt(v), capex_usd: v => "$" + Plot.fmt(v),
  usd_per_run: v => "$" + Plot.fmt(v),
};

function firstOrder(head) {
  // where the full twin is not installed the API returns first-order figures: show those instead
  if (head.days_to_model_p50 !== undefined || typeof head.ideal_days !== "number") return head;
  return {...head, days_to_model_p50: head.ideal_days, peak_mw: head.facility_mw, capex_usd: head.gpu_capex_usd};
}

function show(head) {
  head = firstOrder(head);
  for (const [k, f] of Object.entries(FORMAT)) {
    const v = head[k];
    $(k).textContent = typeof v === "number" && isFinite(v) ? f(v) : "–";
  }
  $("plan").textContent = head.plan || "–";
}

function sizes(n, domain) {
  const d = Math.max(domain || 8, 8);
  const out = new Set();
  for (const f of [0.25, 0.5, 0.75, 1, 1.5, 2]) out.add(Math.max(d, Math.round(n * f / d) * d));
  return [...out].sort((a, b) => a - b);
}

async function update() {
  const my = ++seq;
  $("error").textContent = "";
  let req;
  try { req = request(); } catch (e) { $("error").textContent = e.message; return; }
  const p = platformFor($("gpu").value);
  const domain = p ? p.gpus_per_domain : 8;
  $("num_gpus").step = domain;
  $("platform").textContent = p ? `platform: ${p.id} (NVLink domains of ${domain} GPUs)` : "";
  $("status").textContent = "simulating…";
  try {
    const res = await call("/api/simulate", req);
    if (my !== seq) return;
    show(res.headline);
    $("status").textContent = `updated in ${res.elapsed_s.toFixed(2)} s` + (res.evaluator === "twin" ? "" :
      " (first-order figures: the full twin is not installed)");
  } catch (e) {
    if (my !== seq) return;
    $("error").textContent = e.message;
    $("status").textContent = "";
    show({});
    return;
  }
  const n = parseInt($("num_gpus").value, 10);
  const xs = sizes(n, domain);
  try {
    const sw = await call("/api/sweep", {...req, axes: {"cluster.num_gpus": xs}});
    if (my !== seq) return;
    const by = Object.fromEntries(sw.rows.map(r => [r["cluster.num_gpus"], firstOrder(r)]));
    const col = k => xs.map(x => (by[x] && typeof by[x][k] === "number") ? by[x][k] : null);
    Plot.lines($("plot-days"), {x: xs, xlabel: "GPUs", mark: n, series: [
      {name: "p50", y: col("days_to_model_p50"), color: "#1f6feb"},
      {name: "p90", y: col("days_to_model_p90"), color: "#d2691e"}]});
    Plot.lines($("plot-power"), {x: xs, xlabel: "GPUs", mark: n, series: [
      {name: "peak MW", y: col("peak_mw"), color: "#c0392b", axis: "left"},
      {name: "capex $B", y: col("capex_usd").map(v => v === null ? null : v / 1e9), color: "#27ae60", axis: "right"}]});
  } catch (e) {
    if (my === seq) $("plot-days").textContent = e.message;
  }
}

function schedule() { clearTimeout(timer); timer = setTimeout(update, 250); }

async function loadScenario(name) {
  const s = await call(`/api/scenarios/${encodeURIComponent(name)}`);
  defaults = s.form;
  for (const k of Object.keys(FIELDS)) {
    const v = defaults[k];
    $(k).value = typeof v === "number" && Math.abs(v) >= 1e7 ? v.toExponential() : v;
  }
  await update();
}

async function main() {
  catalog = await call("/api/catalog");
  fill($("scenario"), catalog.scenarios);
  fill($("gpu"), catalog.gpus);
  fill($("model"), catalog.models);
  $("scenario").addEventListener("change", () => loadScenario($("scenario").value));
  for (const k of Object.keys(FIELDS)) {
    $(k).addEventListener("change", schedule);
    $(k).addEventListener("input", schedule);
  }
  await loadScenario($("scenario").value);
}

main().catch(e => { $("error").textContent = e.message; });
