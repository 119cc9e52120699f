// The loss report as an SVG a person attaches to an ISP ticket: title and
// range, loss (%) and RTT (ms) against local time on shared axes, one
// colour per path with its totals in the legend, events (failovers, path
// state changes, config changes) as numbered markers listed below. Plain
// SVG 1.1 with no scripts, fonts or external references, so it renders the
// same in a browser, an image viewer, rsvg-convert or a mail client.
import type { ReportData, Series } from './data.js';
import { coarsen, displayBucket } from './coarsen.js';
import { bucketName, fmt, localTime, niceTicks, timeLabel, timeTicks, tzName } from './scale.js';

/** Tableau 10: distinguishable, and readable by most colour-blind people. */
export const palette = ['#4e79a7', '#e15759', '#59a14f', '#f28e2b', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#bab0ac'];

export const svgWidth = 1000;
const left = 76;
const right = 28;
const plotW = svgWidth - left - right;
const lossTop = 104;
const lossH = 250;
/** Where the loss panel is, for checks of a rendered report. */
export const lossPanel = { x: left, y: lossTop, width: plotW, height: lossH } as const;
/** Opacity of the loss area under each path's line. */
export const lossFillOpacity = 0.22;
const rttTop = lossTop + lossH + 28;
const rttH = 150;
const axisBottom = rttTop + rttH;
const legendTop = axisBottom + 62;
const rowH = 20;
const maxEventsListed = 12;

/** Height of the SVG for data: the charts, one legend row per series, the event list, the footer. */
export function svgHeight(data: Pick<ReportData, 'series' | 'events'>): number {
  const ev = data.events.length === 0 ? 0 : 28 + rowH * Math.min(maxEventsListed, data.events.length) + (data.events.length > maxEventsListed ? rowH : 0);
  return legendTop + rowH * Math.max(1, data.series.length) + ev + 40;
}

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const n1 = (v: number): string => (Math.round(v * 10) / 10).toString();

/** Runs of consecutive buckets (a gap of a missing bucket breaks a run). */
function runs<T extends { t: number }>(points: T[], bucket: number): T[][] {
  const out: T[][] = [];
  for (const p of points) {
    const last = out[out.length - 1];
    if (last && p.t - last[last.length - 1]!.t <= bucket * 1.5) last.push(p);
    else out.push([p]);
  }
  return out;
}

/** One line for the legend: a series' totals. */
export function totalsText(s: Series): string {
  const t = s.totals;
  if (t.sent === 0) return 'no probes in this range';
  const dir = t.lossFwdPct !== null || t.lossRevPct !== null ? ` (out ${t.lossFwdPct === null ? '-' : n1(t.lossFwdPct)}%, back ${t.lossRevPct === null ? '-' : n1(t.lossRevPct)}%)` : '';
  return `loss ${n1(t.lossPct ?? 0)}%${dir}, ${t.lost} of ${t.sent} probes; RTT avg ${t.rttAvgMs === null ? '-' : n1(t.rttAvgMs)} ms, max ${t.rttMaxMs === null ? '-' : n1(t.rttMaxMs)} ms; jitter ${t.jitterMs === null ? '-' : n1(t.jitterMs)} ms`;
}

/** One line for the event list. */
export function eventText(e: ReportData['events'][number]): string {
  const d = e.detail as Record<string, unknown> | null;
  const bits = d && typeof d === 'object'
    ? ['from', 'to', 'reason', 'role', 'cause'].filter((k) => d[k] !== undefined && typeof d[k] !== 'object').map((k) => `${k} ${String(d[k])}`)
    : [];
  return `${localTime(e.ts)}  ${e.kind}${e.subject ? ` ${e.subject}` : ''}${bits.length ? ` — ${bits.join(', ')}` : ''} (${e.daemon})`;
}

/** The report as SVG text. */
export function renderSvg(report: ReportData, opts: { degradedLossPct?: number } = {}): string {
  const H = svgHeight(report);
  const { from, to } = report;
  // About two pixels per bucket at most; see coarsen.ts.
  const bucket = displayBucket(to - from, report.bucketMs, Math.floor(plotW / 2));
  const data: ReportData = { ...report, bucketMs: bucket, series: report.series.map((s) => ({ ...s, points: coarsen(s.points, from, bucket) })) };
  const x = (t: number): number => left + ((Math.min(to, Math.max(from, t)) - from) / (to - from)) * plotW;
  const maxLoss = Math.max(0, ...data.series.flatMap((s) => s.points.map((p) => p.lossPct ?? 0)));
  const loss = niceTicks(maxLoss, 5, 1);
  const maxRtt = Math.max(0, ...data.series.flatMap((s) => s.points.map((p) => p.rttAvgMs ?? 0)));
  const rtt = niceTicks(maxRtt, 4, 1);
  const yLoss = (v: number): number => lossTop + lossH - (v / loss.max) * lossH;
  const yRtt = (v: number): number => rttTop + rttH - (Math.min(v, rtt.max) / rtt.max) * rttH;
  const time = timeTicks(from, to, 8);
  const o: string[] = [];
  const font = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

  o.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${svgWidth}" height="${H}" viewBox="0 0 ${svgWidth} ${H}" ${font} font-size="12">`);
  o.push(`<title>${esc(data.title)}</title>`);
  o.push(`<rect x="0" y="0" width="${svgWidth}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="${left}" y="32" font-size="20" font-weight="bold" fill="#222">${esc(data.title)}</text>`);
  const who = data.appliance ? `measured by ${data.appliance.name} (site ${data.appliance.site})` : 'measured by this appliance';
  const rate = data.probeRatePerSec ? `, ${fmt(data.probeRatePerSec.path)} probes/s per path` : '';
  o.push(`<text x="${left}" y="54" fill="#555">${esc(`${localTime(from)} → ${localTime(to)} (${tzName(from)}) · each point sums ${bucketName(bucket)} of probes`)}</text>`);
  o.push(`<text x="${left}" y="72" fill="#555">${esc(`${who} · STAMP (RFC 8762) probes${rate} · loss = lost / sent in each bucket`)}</text>`);

  // Panels: grid, axes, titles.
  const panel = (top: number, h: number, ticks: number[], y: (v: number) => number, title: string): void => {
    o.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${h}" fill="#fafafa" stroke="#ccc"/>`);
    for (const v of ticks) {
      const yy = y(v).toFixed(1);
      o.push(`<line x1="${left}" y1="${yy}" x2="${left + plotW}" y2="${yy}" stroke="#e3e3e3"/>`);
      o.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${fmt(v)}</text>`);
    }
    for (const t of time.ticks) o.push(`<line x1="${x(t).toFixed(1)}" y1="${top}" x2="${x(t).toFixed(1)}" y2="${top + h}" stroke="#e3e3e3"/>`);
    o.push(`<text transform="translate(${left - 50},${top + h / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(title)}</text>`);
  };
  panel(lossTop, lossH, loss.ticks, yLoss, 'packet loss (%)');
  panel(rttTop, rttH, rtt.ticks, yRtt, 'round-trip time (ms)');
  for (const t of time.ticks) {
    o.push(`<line x1="${x(t).toFixed(1)}" y1="${axisBottom}" x2="${x(t).toFixed(1)}" y2="${axisBottom + 5}" stroke="#888"/>`);
    o.push(`<text x="${x(t).toFixed(1)}" y="${axisBottom + 18}" text-anchor="middle" fill="#444">${esc(timeLabel(t, time.step, from, to))}</text>`);
  }
  o.push(`<text x="${left + plotW / 2}" y="${axisBottom + 38}" text-anchor="middle" fill="#333">${esc(`local time (${tzName(from)})`)}</text>`);

  if (opts.degradedLossPct !== undefined && opts.degradedLossPct <= loss.max) {
    const yy = yLoss(opts.degradedLossPct).toFixed(1);
    o.push(`<line x1="${left}" y1="${yy}" x2="${left + plotW}" y2="${yy}" stroke="#c0392b" stroke-dasharray="6 4" stroke-width="1"/>`);
    o.push(`<text x="${left + plotW - 4}" y="${(yLoss(opts.degradedLossPct) - 4).toFixed(1)}" text-anchor="end" fill="#c0392b" font-size="11">degraded above ${fmt(opts.degradedLossPct)}%</text>`);
  }

  // Data: loss as shaded steps, RTT as lines; a missing bucket breaks both.
  data.series.forEach((s, i) => {
    const c = palette[i % palette.length]!;
    const b = data.bucketMs;
    for (const run of runs(s.points, b)) {
      const base = yLoss(0).toFixed(1);
      let top = '';
      for (const p of run) {
        const yy = yLoss(p.lossPct ?? 0).toFixed(1);
        top += `${top ? 'L' : 'M'}${x(p.t).toFixed(1)},${yy}L${x(p.t + b).toFixed(1)},${yy}`;
      }
      const x0 = x(run[0]!.t).toFixed(1);
      const x1 = x(run[run.length - 1]!.t + b).toFixed(1);
      o.push(`<path d="M${x0},${base}${top.replace(/^M/, 'L')}L${x1},${base}Z" fill="${c}" fill-opacity="${lossFillOpacity}" stroke="none"/>`);
      o.push(`<path d="${top}" fill="none" stroke="${c}" stroke-width="1.6" stroke-linejoin="round"/>`);
    }
    for (const run of runs(s.points.filter((p) => p.rttAvgMs !== null), b)) {
      const d = run.map((p, k) => `${k ? 'L' : 'M'}${x(p.t + b / 2).toFixed(1)},${yRtt(p.rttAvgMs!).toFixed(1)}`).join('');
      o.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.4" stroke-linejoin="round"/>`);
    }
  });
  if (data.series.every((s) => s.points.length === 0)) {
    o.push(`<text x="${left + plotW / 2}" y="${lossTop + lossH / 2}" text-anchor="middle" fill="#888" font-size="16">no probes were recorded in this range</text>`);
  }

  // Events: a dashed line through both panels and a numbered marker.
  data.events.forEach((e, k) => {
    const xx = x(e.ts).toFixed(1);
    o.push(`<line x1="${xx}" y1="${lossTop}" x2="${xx}" y2="${axisBottom}" stroke="#333" stroke-width="1" stroke-dasharray="3 3"/>`);
    o.push(`<circle cx="${xx}" cy="${lossTop - 10}" r="8" fill="#333"/>`);
    o.push(`<text x="${xx}" y="${lossTop - 6}" text-anchor="middle" fill="#fff" font-size="10" font-weight="bold">${k + 1}</text>`);
  });

  // Legend with totals, then the event list.
  let y = legendTop;
  data.series.forEach((s, i) => {
    const c = palette[i % palette.length]!;
    o.push(`<rect x="${left}" y="${y - 10}" width="22" height="10" fill="${c}" fill-opacity="0.35" stroke="${c}" stroke-width="1.6"/>`);
    o.push(`<text x="${left + 30}" y="${y}" fill="#222"><tspan font-weight="bold">${esc(s.subject)}</tspan><tspan dx="10" fill="#444">${esc(`${s.kind === 'wan' ? 'WAN' : 'path'} · ${totalsText(s)}`)}</tspan></text>`);
    y += rowH;
  });
  if (data.series.length === 0) y += rowH;
  if (data.events.length > 0) {
    y += 8;
    o.push(`<text x="${left}" y="${y}" font-weight="bold" fill="#222">Events</text>`);
    y += rowH;
    data.events.slice(0, maxEventsListed).forEach((e, k) => {
      const line = `${k + 1}. ${eventText(e)}`;
      // About 140 characters fit the width at this size; the HTML report has the whole text.
      o.push(`<text x="${left}" y="${y}" fill="#333">${esc(line.length > 140 ? `${line.slice(0, 139)}…` : line)}</text>`);
      y += rowH;
    });
    if (data.events.length > maxEventsListed) {
      o.push(`<text x="${left}" y="${y}" fill="#666">${esc(`... and ${data.events.length - maxEventsListed} more (see the HTML report or ternctl report loss --json)`)}</text>`);
      y += rowH;
    }
  }
  o.push(`<text x="${svgWidth - right}" y="${H - 12}" text-anchor="end" fill="#888" font-size="10">${esc(`generated ${localTime(data.generatedAt)} by ternctl ${data.version} · source: ${data.source === 'probed' ? 'tern-probed' : 'state database'}`)}</text>`);
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}
