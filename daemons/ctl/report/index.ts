// Package report is `ternctl report loss`: loss and RTT per path or WAN over a time range, as a terminal chart and as SVG/HTML files for an ISP ticket.
import fs from 'node:fs';
import { TernError, errorMessage } from '../../lib/errors.js';
import type { CommandResult, CtlContext } from '../context.js';
import { isPermissionError, permissionError, usageError } from '../exit.js';
import { parseRange } from '../time.js';
import { ternVersion } from '../version.js';
import { runningConfig } from '../views.js';
import { bucketMs, fetchEvents, fetchSeries, type ReportData, type Resolution } from './data.js';
import { renderHtml } from './html.js';
import { renderSvg, svgHeight, svgWidth } from './svg.js';
import { renderTerminal } from './terminal.js';

export { renderSvg, svgHeight, svgWidth, palette } from './svg.js';
export { renderHtml } from './html.js';
export { renderTerminal } from './terminal.js';
export { reportSubjects, type ReportData, type Series } from './data.js';

export interface ReportLossOptions {
  site?: string;
  paths: string[];
  wans: string[];
  from: string;
  to: string;
  resolution: 'auto' | Resolution;
  svg?: string;
  html?: string;
  title?: string;
}

function write(file: string, text: string): void {
  try {
    fs.writeFileSync(file, text);
  } catch (err) {
    if (isPermissionError(err)) throw permissionError('write report', file, err);
    throw new TernError('TERN_E_CTL_REPORT', `ternctl: report loss: write ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Gather the report's data (also used by tests and diag). */
export async function lossReport(ctx: CtlContext, opts: ReportLossOptions): Promise<ReportData> {
  if (!opts.site && opts.paths.length === 0 && opts.wans.length === 0) {
    throw usageError('report loss needs --site, --path or --wan', 'ternctl report loss --site cloud --from 24h');
  }
  const { from, to } = parseRange(opts.from, opts.to, ctx.clock.now());
  const cfg = (await runningConfig(ctx)).loaded?.config;
  const fetched = await fetchSeries(ctx, cfg, { site: opts.site, paths: opts.paths, wans: opts.wans, from, to, resolution: opts.resolution });
  try {
    const events = await fetchEvents(fetched.db, fetched.series, from, to);
    const resolution = fetched.series[0]?.resolution ?? 'raw';
    const what = opts.site ? `site ${opts.site}` : fetched.series.map((s) => s.subject).join(', ');
    return {
      title: opts.title ?? `Packet loss and latency, ${what}`,
      site: opts.site ?? null,
      from, to, resolution, bucketMs: bucketMs[resolution],
      series: fetched.series,
      events,
      source: fetched.source,
      appliance: cfg ? { site: cfg.identity.site, name: cfg.identity.name } : null,
      probeRatePerSec: cfg ? { path: cfg.probes.pathRatePerSec, wan: cfg.probes.wanRatePerSec } : null,
      generatedAt: ctx.clock.now(),
      version: ternVersion(),
    };
  } finally {
    await fetched.db?.close().catch(() => undefined);
  }
}

export async function reportLossCommand(ctx: CtlContext, opts: ReportLossOptions): Promise<CommandResult> {
  const data = await lossReport(ctx, opts);
  const cfg = (await runningConfig(ctx)).loaded?.config;
  const degraded = cfg?.probes.degraded.lossPct ?? 5;
  const files: Record<string, string> = {};
  if (opts.svg) {
    write(opts.svg, renderSvg(data, { degradedLossPct: degraded }));
    files.svg = opts.svg;
  }
  if (opts.html) {
    write(opts.html, renderHtml(data, { degradedLossPct: degraded }));
    files.html = opts.html;
  }
  const columns = Number(ctx.env.COLUMNS) || (process.stdout.columns ?? 100);
  const text = [
    renderTerminal(data, { width: columns, colour: ctx.color, degradedLossPct: degraded }),
    ...Object.entries(files).map(([k, f]) => `wrote ${k.toUpperCase()} ${f}${k === 'svg' ? ` (${svgWidth}x${svgHeight(data)})` : ''}`),
  ].join('\n');
  return { data: { ...data, files }, text };
}
