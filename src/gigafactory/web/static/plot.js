// A small SVG line plot (no library, no network): Plot.lines(element, spec).
// spec = {x: [..], xlabel, series: [{name, y: [..], color, axis: "left"|"right"}], mark: xValue}
"use strict";
const Plot = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 520, H = 260, L = 58, R = 58, T = 16, B = 40;
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
  function fmt(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toPrecision(3) + "B";
    if (a >= 1e6) return (v / 1e6).toPrecision(3) + "M";
    if (a >= 1e3) return (v / 1e3).toPrecision(3) + "k";
    return Number(v.toPrecision(3)).toString();
  }
  function range(vals) {
    const f = vals.filter(v => v !== null && isFinite(v));
    if (!f.length) return [0, 1];
    let lo = Math.min(...f), hi = Math.max(...f);
    if (hi === lo) { lo = lo * 0.9; hi = hi * 1.1 || 1; }
    const pad = (hi - lo) * 0.06;
    return [Math.max(0, lo - pad), hi + pad];
  }
  function lines(target, spec) {
    target.textContent = "";
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img"});
    const [x0, x1] = range(spec.x);
    const sx = v => L + (v - x0) / (x1 - x0) * (W - L - R);
    svg.appendChild(el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fbfbfd", stroke: "#ccd"}));
    for (const t of ticks(x0, x1, 5)) {
      svg.appendChild(el("text", {x: sx(t), y: H - B + 15, "font-size": 11, "text-anchor": "middle"}, fmt(t)));
    }
    svg.appendChild(el("text", {x: (L + W - R) / 2, y: H - 6, "font-size": 12, "text-anchor": "middle"}, spec.xlabel || ""));
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
    if (spec.mark !== undefined && spec.mark !== null) {
      svg.appendChild(el("line", {x1: sx(spec.mark), x2: sx(spec.mark), y1: T, y2: H - B, stroke: "#999",
        "stroke-dasharray": "4 3"}));
    }
    let ly = T + 14;
    for (const s of spec.series) {
      const sy = scale[s.axis || "left"];
      const pts = spec.x.map((x, i) => [x, s.y[i]]).filter(p => p[1] !== null && isFinite(p[1]));
      if (pts.length > 1) {
        svg.appendChild(el("polyline", {points: pts.map(p => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" "),
          fill: "none", stroke: s.color, "stroke-width": 2}));
      }
      for (const p of pts) {
        const c = el("circle", {cx: sx(p[0]), cy: sy(p[1]), r: 3.5, fill: s.color, class: "pt"});
        c.appendChild(el("title", {}, `${s.name}: ${fmt(p[1])} at ${fmt(p[0])}`));
        svg.appendChild(c);
      }
      svg.appendChild(el("text", {x: W - R - 8, y: ly, "font-size": 11, fill: s.color, "text-anchor": "end"}, `● ${s.name}` +
        (Object.keys(axes).length > 1 ? ` (${s.axis || "left"} axis)` : "")));
      ly += 14;
    }
    target.appendChild(svg);
  }
  return {lines, fmt};
})();
