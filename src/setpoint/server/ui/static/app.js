// setpoint web UI: confirmation dialogs and line charts. No framework, no build step.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f5fa8", "#c4422b", "#1a7f37", "#8250df", "#b7791f", "#0e7490", "#be185d", "#4d5b6a", "#65a30d", "#9a3412"];

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// ---------------------------------------------------------------- confirmation dialogs
// A form with data-confirm="text" asks first; the dialog is a native <dialog> (focus stays in it).
function setupConfirm() {
  const dialog = document.getElementById("confirm");
  if (!dialog) return;
  let pending = null;
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || form.dataset.confirmed) return;
    event.preventDefault();
    pending = form;
    document.getElementById("confirm-text").textContent = form.dataset.confirm;
    document.getElementById("confirm-ok").textContent = form.dataset.confirmLabel || "Confirm";
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (pending && dialog.returnValue === "ok") {
      pending.dataset.confirmed = "1";
      pending.submit();
    }
    pending = null;
  });
}

// ---------------------------------------------------------------- charts
function ticks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function fmt(v) {
  if (!isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  return +v.toPrecision(5) + "";
}

function drawChart(figure, data) {
  const series = (data.series || []).filter((s) => s.x && s.x.length);
  figure.querySelector(".chart-loading")?.remove();
  if (!series.length) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = data.empty || "No points.";
    figure.appendChild(p);
    figure.dataset.rendered = "empty";
    return;
  }
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series) {
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i], y = s.y[i];
      if (x < x0) x0 = x; if (x > x1) x1 = x;
      if (y === null || !isFinite(y)) continue;
      if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
  }
  // a flat series (or a single point) gets a band around it, relative to its size
  if (!(y1 > y0)) { const pad = Math.abs(y0) * 0.01 || 1; y0 -= pad; y1 += pad; }
  if (!(x1 > x0)) { const pad = Math.abs(x0) * 0.01 || 1; x0 -= pad; x1 += pad; }
  const box = figure.getBoundingClientRect();
  const W = Math.max(box.width - 16, 200), H = Math.max(box.height - 48 - (series.length > 1 ? 20 : 0), 80);
  const m = { l: 56, r: 12, t: 8, b: 24 };
  const sx = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y) => m.t + (1 - (y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, "aria-hidden": "true" });
  const grid = el("g", { class: "grid" }, svg);
  const axis = el("g", { class: "axis" }, svg);
  for (const t of ticks(y0, y1, 4)) {
    el("line", { x1: m.l, x2: W - m.r, y1: sy(t), y2: sy(t) }, grid);
    el("text", { x: m.l - 6, y: sy(t) + 4, "text-anchor": "end" }, axis).textContent = fmt(t);
  }
  for (const t of ticks(x0, x1, 6)) {
    el("text", { x: sx(t), y: H - 6, "text-anchor": "middle" }, axis).textContent = fmt(t);
  }
  el("path", { d: `M${m.l},${m.t} V${H - m.b} H${W - m.r}`, fill: "none" }, axis);
  series.forEach((s, k) => {
    // Points arrive already reduced by the server (first, min, max, last of each bucket):
    // joined in order they keep every peak and dip of the full series.
    let d = "", pen = false;
    for (let i = 0; i < s.x.length; i++) {
      const y = s.y[i];
      if (y === null || !isFinite(y)) { pen = false; continue; }
      d += (pen ? "L" : "M") + sx(s.x[i]).toFixed(1) + "," + sy(y).toFixed(1);
      pen = true;
    }
    const colour = PALETTE[k % PALETTE.length];
    el("path", { d, fill: "none", stroke: colour, "stroke-width": 1.5, "stroke-linejoin": "round" }, svg);
    if (s.x.length <= 60) {
      // few points (or one): mark each, so a single value is visible too
      for (let i = 0; i < s.x.length; i++) {
        if (s.y[i] === null || !isFinite(s.y[i])) continue;
        el("circle", { cx: sx(s.x[i]).toFixed(1), cy: sy(s.y[i]).toFixed(1), r: 3, fill: colour }, svg);
      }
    }
  });
  figure.appendChild(svg);
  if (series.length > 1 || data.legend) {
    const legend = document.createElement("div");
    legend.className = "legend";
    series.forEach((s, k) => {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = PALETTE[k % PALETTE.length];
      item.append(swatch, s.name);
      legend.appendChild(item);
    });
    figure.appendChild(legend);
  }
  const tip = document.createElement("div");
  tip.className = "tip";
  tip.hidden = true;
  figure.appendChild(tip);
  svg.addEventListener("mousemove", (ev) => {
    const r = svg.getBoundingClientRect();
    const x = x0 + ((ev.clientX - r.left) * (W / r.width) - m.l) / (W - m.l - m.r) * (x1 - x0);
    const lines = series.map((s) => {
      let lo = 0, hi = s.x.length - 1;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (s.x[mid] < x) lo = mid + 1; else hi = mid; }
      return `${s.name}: ${fmt(s.y[lo])} @ ${fmt(s.x[lo])}`;
    });
    tip.textContent = lines.join(" · ");
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX - figure.getBoundingClientRect().left + 12, W - 160) + "px";
    tip.style.top = "1.6rem";
  });
  svg.addEventListener("mouseleave", () => { tip.hidden = true; });
  const points = series.reduce((n, s) => n + s.x.length, 0);
  figure.dataset.rendered = String(points);
  if (data.total !== undefined) figure.dataset.total = String(data.total);
}

async function loadChart(figure) {
  {
    try {
      const width = Math.round(figure.getBoundingClientRect().width) || 800;
      const url = figure.dataset.chart + (figure.dataset.chart.includes("?") ? "&" : "?") + "width=" + width;
      const response = await fetch(url, { credentials: "same-origin" });
      const data = await response.json();
      if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
      drawChart(figure, data);
    } catch (err) {
      figure.querySelector(".chart-loading")?.remove();
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = "Cannot draw this chart: " + err.message;
      figure.appendChild(p);
      figure.dataset.rendered = "error";
    }
  }
}

function loadCharts() {
  // all at once: the server answers each chart's request independently
  return Promise.all([...document.querySelectorAll("figure[data-chart]")].map(loadChart));
}

document.addEventListener("DOMContentLoaded", () => {
  setupConfirm();
  loadCharts();
});
