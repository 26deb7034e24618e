// @ts-check
// The report's chart: one panel per (workload, concurrency), each with its own millisecond scale,
// holding p50/p90/p99 bars of both servers side by side.
import { Canvas } from './png.mjs';

/** @typedef {import('./png.mjs').Rgb} Rgb */
/** @typedef {import('./report.mjs').Cell} Cell */
/** @typedef {import('./report.mjs').ServerName} ServerName */

/** @type {Record<ServerName, Rgb>} */
const SERVER_COLOURS = { 'kmesh-opa': [41, 98, 168], 'opa-envoy-plugin': [230, 126, 34] };
/** @type {Record<ServerName, string>} */
const SERVER_LABELS = { 'kmesh-opa': 'KMESH-OPA (NODE + WASM)', 'opa-envoy-plugin': 'OPA-ENVOY-PLUGIN (GO)' };
const CHART_PERCENTILES = ['p50', 'p90', 'p99'];

const WHITE = /** @type {Rgb} */ ([255, 255, 255]);
const INK = /** @type {Rgb} */ ([33, 37, 41]);
const MUTED = /** @type {Rgb} */ ([100, 106, 112]);
const GRID = /** @type {Rgb} */ ([222, 226, 230]);
const PANEL_BG = /** @type {Rgb} */ ([248, 249, 250]);

const MARGIN = 24;
const HEADER = 118;
const PANEL_W = 420;
const PANEL_H = 270;
const GAP = 20;

/** A round axis maximum and step giving at most five intervals above `max`. @param {number} max */
function niceAxis(max) {
  const safe = max > 0 && Number.isFinite(max) ? max : 1;
  const rough = safe / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const norm = rough / magnitude;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * magnitude;
  return { step, top: Math.ceil(safe / step) * step };
}

/** @param {number} n */
const label = (n) => String(Number(n.toPrecision(3)));

/**
 * @param {Canvas} canvas
 * @param {Cell} cell
 * @param {ServerName[]} servers
 * @param {number} x0
 * @param {number} y0
 */
function drawPanel(canvas, cell, servers, x0, y0) {
  canvas.fillRect(x0, y0, PANEL_W, PANEL_H, PANEL_BG);
  canvas.text(x0 + 12, y0 + 10, `${cell.workload}, concurrency ${cell.concurrency}`, INK, { scale: 2 });

  const left = x0 + 70;
  const right = x0 + PANEL_W - 14;
  const top = y0 + 44;
  const bottom = y0 + PANEL_H - 34;
  const values = servers.flatMap((s) => CHART_PERCENTILES.map((p) => cell.servers[s]?.latencyMs[p] ?? NaN)).filter(Number.isFinite);
  const axis = niceAxis(Math.max(0, ...values));
  const yOf = (/** @type {number} */ v) => bottom - ((bottom - top) * v) / axis.top;

  for (let v = 0; v <= axis.top + axis.step / 1000; v += axis.step) {
    const y = Math.round(yOf(v));
    canvas.fillRect(left, y, right - left, 1, GRID);
    canvas.text(left - 8, y - 7, label(v), MUTED, { scale: 2, align: 'right' });
  }
  canvas.fillRect(left, top, 1, bottom - top + 1, MUTED);
  canvas.fillRect(left, bottom, right - left, 1, MUTED);

  const groupW = (right - left) / CHART_PERCENTILES.length;
  const barW = Math.min(44, (groupW - 24) / servers.length);
  CHART_PERCENTILES.forEach((p, g) => {
    const centre = left + groupW * (g + 0.5);
    const start = centre - (barW * servers.length) / 2;
    servers.forEach((s, i) => {
      const v = cell.servers[s]?.latencyMs[p];
      if (v === undefined || !Number.isFinite(v)) return;
      const x = start + i * barW;
      const y = yOf(v);
      canvas.fillRect(x + 2, y, barW - 4, bottom - y, SERVER_COLOURS[s]);
      canvas.text(x + barW / 2, y - 10, label(v), INK, { scale: 1, align: 'center' });
    });
    canvas.text(centre, bottom + 10, p.toUpperCase(), INK, { scale: 2, align: 'center' });
  });
}

/**
 * @param {Cell[]} cells in workload-major order
 * @param {ServerName[]} servers
 * @param {{ subtitle: string }} options
 * @returns {Buffer} PNG
 */
export function latencyChart(cells, servers, { subtitle }) {
  const workloads = [...new Set(cells.map((c) => c.workload))];
  const concurrencies = [...new Set(cells.map((c) => c.concurrency))];
  const title = 'ext_authz Check latency by percentile (ms, lower is better)';
  const panelsWidth = concurrencies.length * PANEL_W + (concurrencies.length - 1) * GAP;
  const width = MARGIN * 2 + Math.max(panelsWidth, Canvas.textWidth(title, 3), Canvas.textWidth(subtitle, 2));
  const height = HEADER + workloads.length * (PANEL_H + GAP) + MARGIN - GAP;
  const canvas = new Canvas(width, height, WHITE);

  canvas.text(MARGIN, MARGIN, title, INK, { scale: 3 });
  canvas.text(MARGIN, MARGIN + 34, subtitle, MUTED, { scale: 2 });
  let lx = MARGIN;
  for (const s of servers) {
    canvas.fillRect(lx, MARGIN + 62, 18, 18, SERVER_COLOURS[s]);
    canvas.text(lx + 28, MARGIN + 64, SERVER_LABELS[s], INK, { scale: 2 });
    lx += 28 + Canvas.textWidth(SERVER_LABELS[s], 2) + 40;
  }

  for (const cell of cells) {
    const col = concurrencies.indexOf(cell.concurrency);
    const row = workloads.indexOf(cell.workload);
    drawPanel(canvas, cell, servers, MARGIN + col * (PANEL_W + GAP), HEADER + row * (PANEL_H + GAP));
  }
  return canvas.toPng();
}
