// Small SVG plots (no library, no network), every axis titled with its unit.
// Plot.lines(element, {x, xlabel, ylabel, ylabel2, series: [{name, y, color, axis: "left"|"right"}], mark})
// Plot.scatter(element, {points: [{x, y, id, front, title}], xlabel, ylabel, selected, onpick(id)})
// Plot.num(v, unit): a number in the notation of gigafactory.units ("$6.19B", "135 MW", "25.9 %").
"use strict";
const Plot = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 540, L = 64, R = 64, T = 14, B = 46;
  function el(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(v);
    return out;
  }
  const SCALES = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "k"]];
  function sig(x, digits) {
    if (x === 0 || !isFinite(x)) return String(x);
    const mag = Math.floor(Math.log10(Math.abs(x)));
    const dec = Math.max(0, digits - 1 - mag);
    return x.toLocaleString("en-US", {minimumFractionDigits: dec, maximumFractionDigits: dec});
  }
  // the one notation (mirrors gigafactory/units.py number())
  function num(v, unit) {
    unit = unit || "";
    if (v === null || v === undefined) return "–";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v !== "number") return String(v);
    if (!isFinite(v)) return "–";
    if (unit === "%") return (100 * v).toFixed(1) + " %";
    const money = unit.startsWith("$"), a = Math.abs(v);
    let body = null;
    for (const [s, suf] of SCALES) {
      if (a >= s && (a >= 1e6 || (money && a >= 1e3))) { body = sig(v / s, 3) + suf; break; }
    }
    if (body === null) body = Number.isInteger(v) ? v.toLocaleString("en-US") : sig(v, 3);
    if (money) {
      const rest = unit.slice(1);
      return (body.startsWith("-") ? "-$" + body.slice(1) : "$" + body) + (rest.startsWith("/") ? rest : rest ? " " + rest : "");
    }
    return unit ? `${body} ${unit}` : body;
  }
  function fmt(v) { return num(v, ""); }
  function range(vals) {
    const f = vals.filter(v => v !== null && isFinite(v));
    if (!f.length) return [0, 1];
    let lo = Math.min(...f), hi = Math.max(...f);
    if (hi === lo) { lo = lo * 0.9; hi = hi * 1.1 || 1; }
    const pad = (hi - lo) * 0.08;
    return [Math.max(0, lo - pad), hi + pad];
  }
  function frame(svg, H, x0, x1, xlabel) {
    const sx = v => L + (v - x0) / (x1 - x0) * (W - L - R);
    svg.appendChild(el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fbfbfd", stroke: "#ccd"}));
    for (const t of ticks(x0, x1, 5)) {
      svg.appendChild(el("text", {x: sx(t), y: H - B + 15, "font-size": 11, "text-anchor": "middle"}, fmt(t)));
    }
    svg.appendChild(el("text", {x: (L + W - R) / 2, y: H - B + 34, "font-size": 12, "text-anchor": "middle",
      class: "xlabel"}, xlabel || ""));
    return sx;
  }
  function ytitle(svg, H, side, text) {
    if (!text) return;
    const x = side === "left" ? 14 : W - 8, y = T + (H - T - B) / 2;
    svg.appendChild(el("text", {x, y, "font-size": 12, "text-anchor": "middle", class: "ylabel",
      transform: `rotate(-90 ${x} ${y})`}, text));
  }
  function lines(target, spec) {
    target.textContent = "";
    const H = 250;
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img"});
    const [x0, x1] = range(spec.x);
    const sx = frame(svg, H, x0, x1, spec.xlabel);
    const axes = {};
    for (const s of spec.series) (axes[s.axis || "left"] = axes[s.axis || "left"] || []).push(...s.y);
    const scale = {};
    for (const [side, vals] of Object.entries(axes)) {
      const [y0, y1] = range(vals);
      scale[side] = v => H - B - (v - y0) / (y1 - y0) * (H - T - B);
      for (const t of ticks(y0, y1, 4)) {
        const x = side === "left" ? L - 5 : W - R + 5;
        svg.appendChild(el("text", {x, y: scale[side](t) + 4, "font-size": 11,
          "text-anchor": side === "left" ? "end" : "start"}, fmt(t)));
      }
    }
    ytitle(svg, H, "left", spec.ylabel);
    if (axes.right) ytitle(svg, H, "right", spec.ylabel2);
    if (spec.mark !== undefined && spec.mark !== null) {
      svg.appendChild(el("line", {x1: sx(spec.mark), x2: sx(spec.mark), y1: T, y2: H - B, stroke: "#999",
        "stroke-dasharray": "4 3"}));
    }
    for (const s of spec.series) {
      const sy = scale[s.axis || "left"];
      const pts = spec.x.map((x, i) => [x, s.y[i]]).filter(p => p[1] !== null && isFinite(p[1]));
      if (pts.length > 1) {
        svg.appendChild(el("polyline", {points: pts.map(p => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" "),
          fill: "none", stroke: s.color, "stroke-width": 2}));
      }
      for (const p of pts) {
        const c = el("circle", {cx: sx(p[0]), cy: sy(p[1]), r: 3.5, fill: s.color, class: "pt"});
        c.appendChild(el("title", {}, `${s.name}: ${fmt(p[1])} at ${fmt(p[0])} ${spec.xlabel || ""}`));
        svg.appendChild(c);
      }
    }
    target.appendChild(svg);
    // the legend sits below the plot, never over the lines
    const legend = document.createElement("div");
    legend.className = "legend hint";
    legend.innerHTML = spec.series.map(s => `<span style="color:${s.color}">●</span> ${s.name}` +
      (axes.right ? ` (${s.axis || "left"} axis)` : "")).join(" &nbsp; ");
    target.appendChild(legend);
  }
  function scatter(target, spec) {
    target.textContent = "";
    const H = 300;
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img"});
    const pts = spec.points.filter(p => isFinite(p.x) && isFinite(p.y));
    const [x0, x1] = range(pts.map(p => p.x)), [y0, y1] = range(pts.map(p => p.y));
    const sx = frame(svg, H, x0, x1, spec.xlabel);
    const sy = v => H - B - (v - y0) / (y1 - y0) * (H - T - B);
    for (const t of ticks(y0, y1, 4)) {
      svg.appendChild(el("text", {x: L - 5, y: sy(t) + 4, "font-size": 11, "text-anchor": "end"}, fmt(t)));
    }
    ytitle(svg, H, "left", spec.ylabel);
    const front = pts.filter(p => p.front).sort((a, b) => a.x - b.x);
    if (front.length > 1) {
      svg.appendChild(el("polyline", {points: front.map(p => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" "),
        fill: "none", stroke: "#d2691e", "stroke-width": 1.5, "stroke-dasharray": "5 3"}));
    }
    for (const p of [...pts.filter(q => !q.front), ...front]) {
      const c = el("circle", {cx: sx(p.x), cy: sy(p.y), r: p.front ? 7 : 5, fill: p.front ? "#d2691e" : "#b8bcc6",
        stroke: "#333", "stroke-width": 0.8, "data-id": p.id,
        class: "pick " + (p.front ? "front" : "dominated") + (p.id === spec.selected ? " sel" : "")});
      c.appendChild(el("title", {}, p.title || p.id));
      c.addEventListener("click", () => spec.onpick && spec.onpick(p.id));
      svg.appendChild(c);
    }
    target.appendChild(svg);
    const legend = document.createElement("div");
    legend.className = "legend hint";
    legend.innerHTML = `<span style="color:#d2691e">●</span> on the Pareto frontier (${front.length}) &nbsp; ` +
      `<span style="color:#b8bcc6">●</span> dominated (${pts.length - front.length})`;
    target.appendChild(legend);
  }
  return {lines, scatter, fmt, num};
})();
