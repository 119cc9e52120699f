// The loss report as one self-contained HTML page (the SVG inline, totals
// and events as tables, how the numbers were measured): no scripts, no
// external fetches, so it opens anywhere and prints well.
import type { ReportData } from './data.js';
import { bucketName, localTime, tzName } from './scale.js';
import { esc, eventText, palette, renderSvg } from './svg.js';

const n1 = (v: number | null): string => (v === null ? '–' : (Math.round(v * 10) / 10).toString());

export function renderHtml(data: ReportData, opts: { degradedLossPct?: number } = {}): string {
  const svg = renderSvg(data, opts).replace(/^<\?xml[^>]*>\n/, '');
  const rows = data.series.map((s, i) => {
    const t = s.totals;
    return `<tr><td><span class="sw" style="background:${palette[i % palette.length]}"></span>${esc(s.subject)}</td><td>${s.kind}</td>`
      + `<td class="n">${t.sent}</td><td class="n">${t.lost}</td><td class="n">${n1(t.lossPct)}</td><td class="n">${n1(t.lossFwdPct)}</td><td class="n">${n1(t.lossRevPct)}</td>`
      + `<td class="n">${n1(t.rttMinMs)}</td><td class="n">${n1(t.rttAvgMs)}</td><td class="n">${n1(t.rttMaxMs)}</td><td class="n">${n1(t.jitterMs)}</td></tr>`;
  }).join('\n');
  const events = data.events.map((e, k) => `<tr><td class="n">${k + 1}</td><td>${esc(localTime(e.ts))}</td><td>${esc(e.kind)}</td><td>${esc(e.subject ?? '')}</td><td>${esc(eventText(e).split(' — ')[1]?.replace(/ \([a-z]+\)$/, '') ?? '')}</td><td>${esc(e.daemon)}</td></tr>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(data.title)}</title>
<style>
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1040px; }
h1 { font-size: 22px; margin: 0 0 4px; } p.sub { color: #555; margin: 0 0 16px; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.sw { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; }
.note { color: #555; font-size: 12px; } svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>${esc(data.title)}</h1>
<p class="sub">${esc(`${localTime(data.from)} → ${localTime(data.to)} (${tzName(data.from)}), ${bucketName(data.bucketMs)} buckets${data.appliance ? `, measured by ${data.appliance.name} (site ${data.appliance.site})` : ''}`)}</p>
${svg}
<h2>Totals</h2>
<table>
<tr><th>subject</th><th>kind</th><th class="n">probes</th><th class="n">lost</th><th class="n">loss %</th><th class="n">out %</th><th class="n">back %</th><th class="n">RTT min ms</th><th class="n">avg ms</th><th class="n">max ms</th><th class="n">jitter ms</th></tr>
${rows}
</table>
<h2>Events</h2>
${data.events.length ? `<table>\n<tr><th class="n">#</th><th>time</th><th>event</th><th>subject</th><th>detail</th><th>reported by</th></tr>\n${events}\n</table>` : '<p>No failovers, path state changes or config changes in this range.</p>'}
<h2>How this was measured</h2>
<p class="note">Each path is probed with STAMP test packets (RFC 8762)${data.probeRatePerSec ? ` at ${data.probeRatePerSec.path} per second` : ''}, sent through the tunnel from this appliance and reflected by the far end. Loss is lost probes divided by sent probes in each bucket (never an average of percentages). Out/back split the loss by direction using the reflector's own packet count: <em>out</em> was lost on the way to the far end, <em>back</em> on the way here. RTT excludes the reflector's processing time; jitter is the RFC 3550 estimate. A gap in a line means no probe was sent in that time (the box or the path was not running).</p>
<p class="note">Generated ${esc(localTime(data.generatedAt))} by ternctl ${esc(data.version)}; source: ${data.source === 'probed' ? 'tern-probed' : 'the state database'}.</p>
</body>
</html>
`;
}
