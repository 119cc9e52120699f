// The loss report in a terminal: one bar line per subject, each column the
// loss of its share of the range (sums, not averages), on one scale.
import { painter } from '../format.js';
import type { ReportData, Series } from './data.js';
import { bucketName, localTime } from './scale.js';
import { eventText, totalsText } from './svg.js';

const blocks = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/** Loss % per column: columns split [from, to) evenly; null where nothing was sent. */
export function columns(s: Series, from: number, to: number, width: number): Array<number | null> {
  const sent = new Array<number>(width).fill(0);
  const lost = new Array<number>(width).fill(0);
  for (const p of s.points) {
    const c = Math.min(width - 1, Math.max(0, Math.floor(((p.t - from) / (to - from)) * width)));
    sent[c]! += p.sent;
    lost[c]! += p.lost;
  }
  return sent.map((n, i) => (n === 0 ? null : (lost[i]! / n) * 100));
}

/** One character per column: '·' no loss, a block for loss up to scale, ' ' no data. */
export function bar(cols: Array<number | null>, scale: number): string {
  return cols.map((v) => (v === null ? ' ' : v === 0 ? '·' : blocks[Math.min(7, Math.max(0, Math.ceil((v / scale) * 8) - 1))])).join('');
}

export function renderTerminal(data: ReportData, opts: { width?: number; colour?: boolean; degradedLossPct?: number } = {}): string {
  const paint = painter(opts.colour ?? false);
  const labelW = Math.max(8, ...data.series.map((s) => s.subject.length));
  // At least one data bucket per column, else columns fall between buckets and read as gaps.
  const width = Math.max(10, Math.min(120, (opts.width ?? 100) - labelW - 2, Math.ceil((data.to - data.from) / data.bucketMs)));
  const cols = data.series.map((s) => columns(s, data.from, data.to, width));
  const peak = Math.max(0, ...cols.flat().map((v) => v ?? 0));
  const scale = peak <= 0 ? 1 : peak;
  const out = [
    paint(data.title, 'bold'),
    `${localTime(data.from)} → ${localTime(data.to)}, ${bucketName(data.bucketMs)} buckets, one column ≈ ${bucketName(Math.max(1000, Math.round((data.to - data.from) / width / 1000) * 1000))}; █ = ${Math.round(scale * 10) / 10}% loss, · = none, blank = no probes`,
    '',
  ];
  data.series.forEach((s, i) => {
    const line = bar(cols[i]!, scale);
    const painted = opts.colour
      ? [...line].map((ch, k) => {
        const v = cols[i]![k];
        return v === null || v === 0 ? ch : paint(ch, v >= (opts.degradedLossPct ?? 5) ? 'red' : 'yellow');
      }).join('')
      : line;
    out.push(`${s.subject.padEnd(labelW)}  ${painted}`);
  });
  const start = localTime(data.from).slice(11, 16);
  const end = localTime(data.to).slice(11, 16);
  out.push(`${''.padEnd(labelW)}  ${start}${end.padStart(width - start.length)}`);
  out.push('');
  for (const s of data.series) out.push(`${s.subject.padEnd(labelW)}  ${totalsText(s)}`);
  if (data.events.length) {
    out.push('', 'events:');
    for (const e of data.events.slice(0, 20)) out.push(`  ${eventText(e)}`);
    if (data.events.length > 20) out.push(`  ... and ${data.events.length - 20} more`);
  }
  return out.join('\n');
}
